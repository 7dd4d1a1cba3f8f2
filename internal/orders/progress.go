package orders

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// ProgressBar renders backfill delivery progress (events delivered or
// dead-lettered by the outbox): a redrawn bar with rate and ETA
// on a terminal, plain periodic lines otherwise (logs, CI, pipes).
type ProgressBar struct {
	W io.Writer
	// Terminal selects the redrawn bar.
	Terminal bool
	// Every is the interval of plain lines (default 5s); the bar redraws
	// at most every 100ms.
	Every time.Duration
	// Now is the clock (tests inject it).
	Now func() time.Time

	mu    sync.Mutex
	start time.Time
	last  time.Time
	cur   Progress
	drawn bool
}

func (p *ProgressBar) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Start marks the beginning of the run (rates are measured from it).
func (p *ProgressBar) Start(total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.start = p.now()
	p.cur = Progress{EventsTotal: total}
}

// Update records progress and draws when due.
func (p *ProgressBar) Update(pr Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cur = pr
	now := p.now()
	every := p.Every
	if every <= 0 {
		every = 5 * time.Second
	}
	if p.Terminal {
		every = 100 * time.Millisecond
	}
	if p.drawn && now.Sub(p.last) < every && pr.EventsDone < pr.EventsTotal {
		return
	}
	p.last, p.drawn = now, true
	p.draw(now)
}

// Finish draws the final state and ends the bar's line.
func (p *ProgressBar) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw(p.now())
	if p.Terminal {
		fmt.Fprintln(p.W)
	}
}

// line renders one progress line: counts, percentage, event rate and ETA.
func (p *ProgressBar) line(now time.Time) string {
	pr := p.cur
	el := now.Sub(p.start).Seconds()
	pct := 100.0
	if pr.EventsTotal > 0 {
		pct = 100 * float64(pr.EventsDone) / float64(pr.EventsTotal)
	}
	rate, eta := 0.0, "?"
	if el > 0 {
		rate = float64(pr.EventsDone) / el
		if pr.EventsDone > 0 {
			left := float64(pr.EventsTotal-pr.EventsDone) / rate
			eta = (time.Duration(left) * time.Second).Round(time.Second).String()
		}
	}
	return fmt.Sprintf("%d/%d events %5.1f%%  %d dead-lettered  %.0f events/s  ETA %s",
		pr.EventsDone, pr.EventsTotal, pct, pr.Dead, rate, eta)
}

func (p *ProgressBar) draw(now time.Time) {
	if !p.Terminal {
		fmt.Fprintln(p.W, "backfill:", p.line(now))
		return
	}
	const width = 30
	fill := width
	if p.cur.EventsTotal > 0 {
		fill = width * p.cur.EventsDone / p.cur.EventsTotal
	}
	bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
	fmt.Fprintf(p.W, "\r\x1b[K[%s] %s", bar, p.line(now))
}
