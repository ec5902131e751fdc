package main

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress shows a bar to a person at a terminal and an occasional log line to anything else.
// When Graph asks the run to wait, the line says so and for how long: a stalled bar during a
// breach would otherwise look like a hang.
type progress struct {
	bar       *progressbar.ProgressBar
	verb      string
	mu        sync.Mutex
	done      int
	total     int
	last      time.Time
	waitUntil time.Time
	lastWait  time.Time
	logger    *slog.Logger
	now       func() time.Time
}

func newProgress(s *sys, total int, verb string, logger *slog.Logger) *progress {
	p := &progress{total: total, verb: verb, logger: logger, last: time.Now(), now: time.Now}
	if s.stderrTTY {
		max := total
		if max <= 0 {
			max = -1 // a spinner: the total is not known yet
		}
		p.bar = progressbar.NewOptions(max,
			progressbar.OptionSetWriter(s.stderr),
			progressbar.OptionSetDescription(verb),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("users"),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

func (p *progress) Add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if p.bar != nil {
		if !p.waitUntil.IsZero() && !p.now().Before(p.waitUntil) {
			p.waitUntil = time.Time{}
			p.bar.Describe(p.verb)
		}
		_ = p.bar.Add(n)
		return
	}
	if time.Since(p.last) >= 10*time.Second {
		p.last = time.Now()
		p.logger.Info("progress", "done", p.done, "total", p.total)
	}
}

// listed shows how many users a Graph listing has returned so far.
func (p *progress) listed(n int) {
	if p.bar != nil {
		_ = p.bar.Set(n)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) >= 10*time.Second {
		p.last = time.Now()
		p.logger.Info("listing", "users", n)
	}
}

// wait is the engine's OnWait: Graph's Retry-After holds the run until `until`. Both times are on
// the engine's clock (an emulated one with --simulate): only their distance is shown.
func (p *progress) wait(now, until time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := until.Sub(now)
	if d <= 0 {
		return
	}
	msg := fmt.Sprintf("%s (Graph asked to wait %s)", p.verb, d.Round(100*time.Millisecond))
	if p.bar != nil {
		p.waitUntil = time.Now().Add(d)
		p.bar.Describe(msg)
		return
	}
	// One log line per stretch of waiting, not per refused request.
	if time.Since(p.lastWait) >= 5*time.Second || d > 5*time.Second {
		p.lastWait = time.Now()
		p.logger.Info("graph asked to wait", "for", d.Round(100*time.Millisecond).String(), "done", p.done, "total", p.total)
	}
}

func (p *progress) Finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
