package postgres_test

import (
	"context"
	"slices"
	"testing"

	"github.com/walletd/wallet/internal/pgtest"
)

// Ids reach Postgres as they did before the binary plan: canonical ones
// in binary, others as text for Postgres to read or refuse.
func TestUUIDParametersAsBefore(t *testing.T) {
	pool := pgtest.NewDB(t)
	ctx := context.Background()
	var got []string
	err := pool.QueryRow(ctx, `SELECT $1::uuid[]::text[]`, []string{
		"019a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8", "019A2B3C4D5E6F708192A3B4C5D6E7F9",
	}).Scan(&got)
	if want := []string{"019a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8", "019a2b3c-4d5e-6f70-8192-a3b4c5d6e7f9"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("canonical ids: %v, %v; want %v", got, err, want)
	}
	// One id in a form only Postgres reads sends the array as text.
	err = pool.QueryRow(ctx, `SELECT $1::uuid[]::text[]`, []string{
		"019a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8", "{019a2b3c-4d5e-6f70-8192-a3b4c5d6e7fa}",
	}).Scan(&got)
	if want := []string{"019a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8", "019a2b3c-4d5e-6f70-8192-a3b4c5d6e7fa"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("a braced id: %v, %v; want %v", got, err, want)
	}
	var one string
	if err := pool.QueryRow(ctx, `SELECT $1::uuid::text`, "019A2B3C-4D5E-6F70-8192-A3B4C5D6E7F8").Scan(&one); err != nil ||
		one != "019a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8" {
		t.Fatalf("one id: %q, %v", one, err)
	}
	for _, bad := range [][]string{{"not-a-uuid"}, {"019a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8", ""}} {
		if err := pool.QueryRow(ctx, `SELECT $1::uuid[]::text[]`, bad).Scan(&got); err == nil {
			t.Errorf("%q read as %v, want Postgres's refusal", bad, got)
		}
	}
}
