package graphsim

import (
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// Latency draws the delay added to each HTTP request before it is handled.
// A nil Latency adds none.
type Latency interface {
	Draw(rng *rand.Rand) time.Duration
}

// Uniform draws latency evenly from [Min, Max].
type Uniform struct{ Min, Max time.Duration }

// Draw implements Latency.
func (u Uniform) Draw(rng *rand.Rand) time.Duration {
	if u.Max <= u.Min {
		return u.Min
	}
	return u.Min + time.Duration(rng.Int64N(int64(u.Max-u.Min)+1))
}

// LogNormal draws latency with a long right tail around Median, the shape
// measured service latencies usually have; Sigma 0.5 is a moderate tail.
// Max, when set, cuts the tail.
type LogNormal struct {
	Median time.Duration
	Sigma  float64
	Max    time.Duration
}

// Draw implements Latency.
func (l LogNormal) Draw(rng *rand.Rand) time.Duration {
	d := time.Duration(float64(l.Median) * math.Exp(l.Sigma*rng.NormFloat64()))
	if l.Max > 0 && d > l.Max {
		d = l.Max
	}
	return d
}

// FaultKind says where a scheduled fault strikes.
type FaultKind int

const (
	// StepFault answers one operation (a $batch step or a direct call) with
	// Status instead of running it.
	StepFault FaultKind = iota
	// EnvelopeFault answers a whole $batch request with Status.
	EnvelopeFault
	// DropFault closes the connection without a response.
	DropFault
	// SlowFault holds the response back for Faults.SlowDelay.
	SlowFault
)

// Scheduled is a fault that fires on a given request or during a period.
type Scheduled struct {
	Kind   FaultKind
	Status int // StepFault: 429, 500, 502, 503 or 504; EnvelopeFault: 429 or 503
	// Nth fires the fault once, on the Nth operation (StepFault), the Nth
	// $batch envelope (EnvelopeFault) or the Nth HTTP request (DropFault,
	// SlowFault), counting from 1 since the server started.
	Nth int
	// From and Until, when Nth is 0, make the fault fire on everything that
	// arrives in [From, Until) after the server started, on its clock.
	// Until 0 means forever.
	From, Until time.Duration
	// Users limits a StepFault to these users (id or UPN, any case).
	Users []string
}

// Faults injects the failures Graph is known to produce. Rates are
// probabilities in [0, 1] drawn per step, envelope or request.
type Faults struct {
	StepRate     float64
	StepStatuses []int // nil = 500, 502, 503, 504

	EnvelopeRate     float64
	EnvelopeStatuses []int // nil = 429, 503

	// RetryAfter goes with injected 429s and 503s; 0 means 1 s.
	RetryAfter time.Duration

	DropRate  float64
	SlowRate  float64
	SlowDelay time.Duration // 0 means 5 min, beyond any sane client timeout

	// AfterWork makes drops and slow responses strike after the request ran,
	// so its writes landed though the client never hears of them; by
	// default they strike before anything happens.
	AfterWork bool

	Schedule []Scheduled
}

func (f Faults) retryAfter() time.Duration {
	if f.RetryAfter > 0 {
		return f.RetryAfter
	}
	return time.Second
}

func (f Faults) slowDelay() time.Duration {
	if f.SlowDelay > 0 {
		return f.SlowDelay
	}
	return 5 * time.Minute
}

// pick returns a status from list, or from def when list is empty.
func pick(rng *rand.Rand, list, def []int) int {
	if len(list) == 0 {
		list = def
	}
	return list[rng.IntN(len(list))]
}

// scheduled returns the first scheduled fault of kind that matches the
// counter value n, the time since start and (for steps) the user.
func (f Faults) scheduled(kind FaultKind, n int, since time.Duration, u *User, key string) (Scheduled, bool) {
	for _, sf := range f.Schedule {
		if sf.Kind != kind {
			continue
		}
		if sf.Nth > 0 {
			if sf.Nth != n {
				continue
			}
		} else if since < sf.From || (sf.Until > 0 && since >= sf.Until) {
			continue
		}
		if len(sf.Users) > 0 && !matchesUser(sf.Users, u, key) {
			continue
		}
		return sf, true
	}
	return Scheduled{}, false
}

func matchesUser(keys []string, u *User, key string) bool {
	for _, k := range keys {
		if strings.EqualFold(k, key) || (u != nil && (strings.EqualFold(k, u.ID) || strings.EqualFold(k, u.UPN))) {
			return true
		}
	}
	return false
}
