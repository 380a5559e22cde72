package main

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite bench/baseline/transfer-*.sql from transferScript")

// The committed scripts are what pgbench runs; they must be what
// transferScript makes.
func TestBaselineScripts(t *testing.T) {
	for _, tc := range []struct {
		file string
		n    int
	}{{"baseline/transfer-1.sql", 1}, {"baseline/transfer-100.sql", 100}} {
		want := transferScript(tc.n)
		if *update {
			if err := os.WriteFile(tc.file, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := baselineFiles.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s is not what transferScript(%d) makes; run go test ./bench -run TestBaselineScripts -update", tc.file, tc.n)
		}
	}
}

func TestTransferScriptShape(t *testing.T) {
	for _, tc := range []struct {
		n         int
		lockFirst bool
	}{{1, false}, {100, true}} {
		s := transferScript(tc.n)
		count := func(sub string) int { return strings.Count(s, sub) }
		if got := count("UPDATE wallets"); got != 2*tc.n {
			t.Errorf("n=%d: %d UPDATEs, want %d", tc.n, got, 2*tc.n)
		}
		if got := count("INSERT INTO entries"); got != 2*tc.n {
			t.Errorf("n=%d: %d INSERTs, want %d", tc.n, got, 2*tc.n)
		}
		if count("BEGIN;") != 1 || count("END;") != 1 {
			t.Errorf("n=%d: want one transaction", tc.n)
		}
		if got := strings.Contains(s, "FOR NO KEY UPDATE"); got != tc.lockFirst {
			t.Errorf("n=%d: locks every wallet first = %v, want %v", tc.n, got, tc.lockFirst)
		}
		// Every debit is conditional.
		if count("balance + :dlo") != 2*tc.n || count("balance - :dlo") != 2*tc.n {
			t.Errorf("n=%d: updates are not all conditional", tc.n)
		}
	}
}

func TestParsePGBench(t *testing.T) {
	out := `transaction type: transfer-1.sql
scaling factor: 1
query mode: prepared
number of clients: 16
number of threads: 2
maximum number of tries: 1
duration: 20 s
number of transactions actually processed: 66250
number of failed transactions: 3 (0.005%)
latency average = 4.829 ms
initial connection time = 12.511 ms
tps = 3312.534110 (without initial connection time)
`
	r, err := parsePGBench(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.TPS != 3312.534110 || r.Transactions != 66250 || r.Failed != 3 || r.LatencyAvgMs != 4.829 {
		t.Errorf("parsed %+v", r)
	}
	if _, err := parsePGBench("pgbench: error: client 3 script 0 aborted in command 5 query 0\n" + out); err == nil {
		t.Error("an aborted client was not an error")
	}
	if _, err := parsePGBench("pgbench: error: connection refused\n"); err == nil {
		t.Error("output without tps was not an error")
	}
}
