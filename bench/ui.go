package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// ui is what a person sees while the benchmark runs, all on stderr:
// progress lines, and progress bars when stderr is a terminal. The results
// go to stdout, so they can be piped on their own.
type ui struct {
	w     io.Writer
	quiet bool
	bars  bool
}

func newUI(quiet bool) *ui {
	return &ui{w: os.Stderr, quiet: quiet, bars: !quiet && term.IsTerminal(int(os.Stderr.Fd()))}
}

// logf prints a progress line unless -quiet.
func (u *ui) logf(format string, args ...any) {
	if !u.quiet {
		fmt.Fprintf(u.w, "bench: "+format+"\n", args...)
	}
}

// warnf prints a line even with -quiet: something the reader must know.
func (u *ui) warnf(format string, args ...any) {
	fmt.Fprintf(u.w, "bench: "+format+"\n", args...)
}

// bar is a progress bar, or nothing when bars are off; its methods may be
// called either way.
type bar struct{ pb *progressbar.ProgressBar }

func (u *ui) bar(max int64, desc string) *bar {
	if !u.bars {
		return &bar{}
	}
	return &bar{pb: progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(u.w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionClearOnFinish(),
	)}
}

func (b *bar) add(n int) {
	if b.pb != nil {
		_ = b.pb.Add(n)
	}
}

func (b *bar) set(n int64) {
	if b.pb != nil {
		_ = b.pb.Set64(n)
	}
}

func (b *bar) describe(s string) {
	if b.pb != nil {
		b.pb.Describe(s)
	}
}

func (b *bar) finish() {
	if b.pb != nil {
		_ = b.pb.Finish()
	}
}
