package wallet

import (
	"fmt"
	"io"
	"time"
)

// AuditCheck is one invariant of the ledger and what violates it.
type AuditCheck struct {
	Name string `json:"name"`
	// Violations counts the rows that break the rule; Examples names up to
	// ten of them (operation or wallet ids).
	Violations int64    `json:"violations"`
	Examples   []string `json:"examples,omitempty"`
}

// AuditReport is the result of checking every invariant of the ledger.
type AuditReport struct {
	CheckedAt  time.Time    `json:"checked_at"`
	Operations int64        `json:"operations"`
	Wallets    int64        `json:"wallets"`
	Entries    int64        `json:"entries"`
	Checks     []AuditCheck `json:"checks"`
}

// OK reports whether no check found a violation.
func (r *AuditReport) OK() bool {
	for _, c := range r.Checks {
		if c.Violations != 0 {
			return false
		}
	}
	return true
}

// Print writes the report as short text for operators.
func (r *AuditReport) Print(w io.Writer) {
	fmt.Fprintf(w, "ledger audit at %s: %d operations, %d wallets, %d entries\n",
		r.CheckedAt.UTC().Format(time.RFC3339), r.Operations, r.Wallets, r.Entries)
	width := 0
	for _, c := range r.Checks {
		width = max(width, len(c.Name))
	}
	for _, c := range r.Checks {
		verdict := "ok"
		if c.Violations != 0 {
			verdict = fmt.Sprintf("FAILED: %d violations, e.g. %v", c.Violations, c.Examples)
		}
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.Name, verdict)
	}
	if r.OK() {
		fmt.Fprintln(w, "result: clean")
	} else {
		fmt.Fprintln(w, "result: VIOLATIONS FOUND")
	}
}
