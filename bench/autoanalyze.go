package main

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres re-plans a prepared statement after ANALYZE; until then, a
// generic plan made while a table was small (holds, which the setup does
// not create) scans it whole. autovacuum re-analyzes a table once more
// than autovacuum_analyze_threshold (50) plus autovacuum_analyze_scale_factor
// (10%) of its rows changed; on a server where autovacuum is off (as on
// the CI machines) the generator applies that rule itself while the load
// runs, so a run measures a deployment with Postgres's defaults.

// autoAnalyze starts emulating autovacuum's analyze rule on the database
// at url if the server's autovacuum is off, until the returned stop is
// called; it returns how many ANALYZEs ran. With autovacuum on, it does
// nothing.
func autoAnalyze(ctx context.Context, url string, u *ui) (stop func() int) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		u.warnf("autovacuum emulation: %v", err)
		return func() int { return 0 }
	}
	var on bool
	if err := conn.QueryRow(ctx, `SELECT current_setting('autovacuum')::boolean`).Scan(&on); err != nil || on {
		conn.Close(context.WithoutCancel(ctx))
		return func() int { return 0 }
	}
	u.logf("autovacuum is off on this server: the generator analyzes tables by its rule (50 rows + 10%% changed)")
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan int)
	go func() {
		defer conn.Close(context.WithoutCancel(ctx))
		n := 0
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				done <- n
				return
			case <-tick.C:
			}
			rows, err := conn.Query(ctx, `
				SELECT format('%I.%I', s.schemaname, s.relname) FROM pg_stat_user_tables s
				JOIN pg_class c ON c.oid = s.relid
				WHERE s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0)`)
			if err != nil {
				continue
			}
			tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				continue
			}
			for _, t := range tables {
				if _, err := conn.Exec(ctx, "ANALYZE "+t); err == nil {
					n++
				}
			}
		}
	}()
	return func() int {
		cancel()
		return <-done
	}
}
