package main

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres re-plans a prepared statement after ANALYZE; until then, a
// generic plan made while a table was small (holds, which the setup does
// not create) scans it whole. autovacuum visits each database once per
// autovacuum_naptime (a minute by default) and re-analyzes the tables in
// which more than autovacuum_analyze_threshold (50) plus
// autovacuum_analyze_scale_factor (10%) of the rows changed; on a server
// where autovacuum is off (as on the CI machines) the generator applies
// that rule itself, at the server's naptime, while the load runs, so a
// run measures a deployment with Postgres's defaults. (It once looked
// every second: on a fresh database that grows by thousands of rows a
// second, that analyzed a table every few seconds and cost the holds
// phase a fifth of Postgres's CPU, which a deployment does not pay.)

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
	var naptime int // seconds
	if err := conn.QueryRow(ctx, `SELECT setting::int FROM pg_settings WHERE name = 'autovacuum_naptime'`).Scan(&naptime); err != nil || naptime < 1 {
		naptime = 60
	}
	u.logf("autovacuum is off on this server: the generator analyzes tables by its rule (50 rows + 10%% changed, every %ds)", naptime)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan int)
	go func() {
		defer conn.Close(context.WithoutCancel(ctx))
		n := 0
		tick := time.NewTicker(time.Duration(naptime) * time.Second)
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
