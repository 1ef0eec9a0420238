package api

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate is a token bucket: Every per second on average, bursts of Burst.
// The zero Rate is "no limit".
type Rate struct {
	Limit rate.Limit
	Burst int
}

// DefaultRate is API_RATE's default: 10 requests a second, bursts of 20.
var DefaultRate = Rate{Limit: 10, Burst: 20}

var rateRE = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*/\s*(s|m|h)\s*(?:burst\s+([0-9]+))?\s*$`)

// ParseRate reads API_RATE: "10/s burst 20", "600/m", "1000/h burst 50"
// (the burst defaults to twice the rate per second, at least 1), or "off"
// (no limit). Empty is DefaultRate.
func ParseRate(v string) (Rate, error) {
	switch v {
	case "":
		return DefaultRate, nil
	case "off":
		return Rate{}, nil
	}
	m := rateRE.FindStringSubmatch(v)
	if m == nil {
		return Rate{}, fmt.Errorf("API_RATE %q: want N/s, N/m or N/h, optionally followed by \"burst N\" (such as \"10/s burst 20\"), or off", v)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil || n <= 0 || n > 1e6 {
		return Rate{}, fmt.Errorf("API_RATE %q: the rate must be above 0 and at most 1000000", v)
	}
	per := map[string]float64{"s": 1, "m": 60, "h": 3600}[m[2]]
	r := Rate{Limit: rate.Limit(n / per)}
	if m[3] != "" {
		b, err := strconv.Atoi(m[3])
		if err != nil || b < 1 || b > 1e6 {
			return Rate{}, fmt.Errorf("API_RATE %q: the burst must be 1 to 1000000", v)
		}
		r.Burst = b
	} else {
		r.Burst = max(1, int(math.Ceil(2*float64(r.Limit))))
	}
	return r, nil
}

// String is r as API_RATE spells it.
func (r Rate) String() string {
	if r.Limit == 0 {
		return "off"
	}
	return fmt.Sprintf("%g/s burst %d", float64(r.Limit), r.Burst)
}

// maxBuckets bounds the buckets a limiter keeps. Buckets are made for
// authenticated tokens and for the addresses of failed authentications;
// when they fill, the idle ones are dropped (a dropped bucket starts full
// again: a limit, not an accounting).
const maxBuckets = 10000

// limiter keeps one token bucket per key, in this process's memory.
type limiter struct {
	rate Rate
	now  func() time.Time
	mu   sync.Mutex
	b    map[string]*bucket
}

type bucket struct {
	l    *rate.Limiter
	used time.Time
}

func newLimiter(r Rate, now func() time.Time) *limiter {
	return &limiter{rate: r, now: now, b: map[string]*bucket{}}
}

// allow takes one request from key's bucket; when it is empty it says how
// long until the next request would be allowed.
func (l *limiter) allow(key string) (bool, time.Duration) {
	if l.rate.Limit == 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.b[key]
	if !ok {
		if len(l.b) >= maxBuckets {
			l.prune(now)
		}
		b = &bucket{l: rate.NewLimiter(l.rate.Limit, l.rate.Burst)}
		l.b[key] = b
	}
	b.used = now
	r := b.l.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// prune drops the buckets idle long enough to have filled up again (they
// would allow a burst anyway), or, if none is, all of them.
func (l *limiter) prune(now time.Time) {
	full := time.Duration(float64(l.rate.Burst) / float64(l.rate.Limit) * float64(time.Second))
	for k, b := range l.b {
		if now.Sub(b.used) > full {
			delete(l.b, k)
		}
	}
	if len(l.b) >= maxBuckets {
		clear(l.b)
	}
}
