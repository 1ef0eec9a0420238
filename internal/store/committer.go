package store

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// Committer is group commit for intake: deliveries that arrive while a
// transaction is committing wait for the next one and are committed
// together, so a busy webhook pays one commit (one fsync) per batch, not
// per delivery. A delivery alone is committed at once: there is no timer.
//
// Intake answers only after the delivery's transaction has committed (or
// failed), so acknowledging a delivery still means it is durable.
type Committer struct {
	db       *DB
	jobs     Jobs
	maxBatch int
	reqs     chan *pendingIntake
	stop     chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
}

type pendingIntake struct {
	ctx  context.Context
	item *IntakeItem
	done chan intakeOutcome
}

type intakeOutcome struct {
	res IntakeResult
	err error
}

// ErrClosed is returned by a Committer that has been closed.
var ErrClosed = errors.New("intake is shutting down")

// NewCommitter starts committers goroutines (each runs one transaction at
// a time; 2 lets one batch fill while another commits) taking up to
// maxBatch deliveries per transaction. Defaults: 2 and 256.
func NewCommitter(db *DB, jobs Jobs, committers, maxBatch int) *Committer {
	if committers <= 0 {
		committers = 2
	}
	if db.Dialect == SQLite {
		committers = 1 // one connection: more would only queue on it
	}
	if maxBatch <= 0 {
		maxBatch = 256
	}
	c := &Committer{db: db, jobs: jobs, maxBatch: maxBatch, reqs: make(chan *pendingIntake, 4*maxBatch), stop: make(chan struct{})}
	for range committers {
		c.wg.Add(1)
		go c.loop()
	}
	return c
}

// Intake records item in the next batch and returns its result once that
// batch has committed.
func (c *Committer) Intake(ctx context.Context, item *IntakeItem) (IntakeResult, error) {
	p := &pendingIntake{ctx: ctx, item: item, done: make(chan intakeOutcome, 1)}
	select {
	case c.reqs <- p:
	case <-c.stop:
		return IntakeResult{}, ErrClosed
	case <-ctx.Done():
		return IntakeResult{}, ctx.Err()
	}
	select {
	case out := <-p.done:
		return out.res, out.err
	case <-ctx.Done():
		// The batch may still commit it: a redelivery is then a
		// recognised duplicate.
		return IntakeResult{}, ctx.Err()
	}
}

// Close stops taking deliveries, commits those already waiting and
// returns when every committer is done.
func (c *Committer) Close() {
	c.once.Do(func() { close(c.stop) })
	c.wg.Wait()
}

func (c *Committer) loop() {
	defer c.wg.Done()
	batch := make([]*pendingIntake, 0, c.maxBatch)
	for {
		batch = batch[:0]
		select {
		case p := <-c.reqs:
			batch = append(batch, p)
		case <-c.stop:
			// Drain what is already queued, then stop.
			for {
				select {
				case p := <-c.reqs:
					c.commit([]*pendingIntake{p})
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < c.maxBatch {
			select {
			case p := <-c.reqs:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		c.commit(batch)
	}
}

func (c *Committer) commit(batch []*pendingIntake) {
	items := make([]*IntakeItem, 0, len(batch))
	live := batch[:0:0]
	for _, p := range batch {
		if p.ctx.Err() != nil {
			// The caller gave up before its delivery was written: it
			// answered 503 and GitHub may redeliver. Writing it now
			// would only be harmless, but skipping is cheaper.
			p.done <- intakeOutcome{err: p.ctx.Err()}
			continue
		}
		items = append(items, p.item)
		live = append(live, p)
	}
	if len(items) == 0 {
		return
	}
	defer c.recoverBatch(live)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, errs := c.db.IntakeBatch(ctx, items, c.jobs)
	for i, p := range live {
		p.done <- intakeOutcome{res: res[i], err: errs[i]}
	}
}

// ErrIntakePanic is returned for the deliveries of a batch whose commit
// panicked: the transaction was rolled back (nothing of the batch is
// written), and the committer goes on with the next batch.
var ErrIntakePanic = errors.New("recording the delivery failed unexpectedly (a panic)")

// recoverBatch, deferred by commit, turns a panic while committing batch
// into ErrIntakePanic for each of its waiters (none was answered: they
// are answered only after IntakeBatch returns), logged with their
// delivery ids, so the committer goroutine lives on.
func (c *Committer) recoverBatch(batch []*pendingIntake) {
	r := recover()
	if r == nil {
		return
	}
	ids := make([]string, len(batch))
	for i, p := range batch {
		if p.item != nil && p.item.Delivery != nil {
			ids[i] = p.item.Delivery.DeliveryID
		}
	}
	c.db.log.Error("intake batch panicked; its deliveries are refused", "deliveries", ids,
		"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	err := fmt.Errorf("%w: %v", ErrIntakePanic, r)
	for _, p := range batch {
		p.done <- intakeOutcome{err: err}
	}
}
