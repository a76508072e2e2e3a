package eval

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Progress draws a one-line progress bar with an estimated time to completion,
// redrawn in place with a carriage return: meant for a terminal.
type Progress struct {
	w           io.Writer
	total, done int
	start, last time.Time
	now         func() time.Time
}

// NewProgress starts a bar for total steps on w.
func NewProgress(w io.Writer, total int) *Progress {
	p := &Progress{w: w, total: total, now: time.Now}
	p.start = p.now()
	p.draw("")
	return p
}

// Step records one finished step, with a note on what it was.
func (p *Progress) Step(note string) {
	p.done++
	// Redraw at most ten times a second, and always at the end.
	if t := p.now(); p.done == p.total || t.Sub(p.last) >= 100*time.Millisecond {
		p.draw(note)
	}
}

// Finish ends the bar's line.
func (p *Progress) Finish() { fmt.Fprintln(p.w) }

func (p *Progress) draw(note string) {
	const width = 30
	p.last = p.now()
	frac := 1.0
	if p.total > 0 {
		frac = float64(p.done) / float64(p.total)
	}
	fill := int(frac * width)
	eta := "--"
	if p.done > 0 && p.done < p.total {
		left := time.Duration(float64(p.last.Sub(p.start)) / float64(p.done) * float64(p.total-p.done))
		eta = left.Round(time.Second).String()
	} else if p.done >= p.total {
		eta = "0s"
	}
	if len(note) > 40 {
		note = note[:37] + "..."
	}
	// \x1b[K clears what a longer previous line left.
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d %3.0f%% ETA %s %s\x1b[K", strings.Repeat("=", fill), strings.Repeat(" ", width-fill),
		p.done, p.total, 100*frac, eta, note)
}
