package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"sync"
)

// Build slots bound how many builds of one installation run at once,
// across every worker process: one tenant cannot take all the builders.
//
// On PostgreSQL a slot is a session advisory lock held on a connection of
// its own for the build's duration: a worker that dies loses its
// connection and so its slots, with nothing to clean up. SQLite serves one
// process, so its slots are counted in memory.

// localSlots counts SQLite's slots per installation.
var localSlots = struct {
	sync.Mutex
	held map[string]map[int]bool
}{held: map[string]map[int]bool{}}

// AcquireBuildSlot takes one of max build slots of installation. It
// reports false when all are taken (the caller waits and tries again);
// release gives the slot back and is safe to call more than once.
func (db *DB) AcquireBuildSlot(ctx context.Context, installation int64, max int) (release func(), ok bool, err error) {
	if max <= 0 {
		return func() {}, true, nil
	}
	if db.Dialect != Postgres {
		return localSlot(fmt.Sprintf("%p/%d", db, installation), max)
	}
	conn, err := db.Bun.DB.Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("build slot: %w", err)
	}
	for slot := 0; slot < max; slot++ {
		key := slotKey(installation, slot)
		var got bool
		if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
			conn.Close()
			return nil, false, fmt.Errorf("build slot: %w", err)
		}
		if got {
			var once sync.Once
			return func() {
				once.Do(func() {
					// Unlock explicitly: the pool may keep the connection.
					_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key)
					conn.Close()
				})
			}, true, nil
		}
	}
	conn.Close()
	return func() {}, false, nil
}

// slotKey is the advisory lock key of one slot of one installation.
func slotKey(installation int64, slot int) int64 {
	h := fnv.New64a()
	var b [8]byte
	h.Write([]byte("linux-builder build slot"))
	binary.BigEndian.PutUint64(b[:], uint64(installation))
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(slot))
	h.Write(b[:])
	return int64(h.Sum64())
}

func localSlot(key string, max int) (func(), bool, error) {
	localSlots.Lock()
	defer localSlots.Unlock()
	held := localSlots.held[key]
	if held == nil {
		held = map[int]bool{}
		localSlots.held[key] = held
	}
	for slot := 0; slot < max; slot++ {
		if !held[slot] {
			held[slot] = true
			var once sync.Once
			return func() {
				once.Do(func() {
					localSlots.Lock()
					delete(held, slot)
					localSlots.Unlock()
				})
			}, true, nil
		}
	}
	return func() {}, false, nil
}
