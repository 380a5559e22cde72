package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProductionRefusesDevPasswords: with APP_ENV=production and the
// development bank and admin passwords, neither program starts.
func TestProductionRefusesDevPasswords(t *testing.T) {
	t.Parallel()
	if unavailableErr != nil {
		t.Skipf("skipping: %v", unavailableErr)
	}
	// Nothing is touched unless a program starts anyway.
	dbName := "wallet_e2e_" + randHex(6)
	t.Cleanup(func() { dropDatabase(t, dbName) })
	redisDB := claimRedisDB(t)
	for _, prog := range []string{"api", "worker"} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, filepath.Join(binDir, prog))
		cmd.Env = append(inheritedEnv(),
			"APP_ENV=production",
			"DATABASE_URL="+dbURL(dbName),
			"REDIS_URL="+redisURL(redisDB),
			"PUBSUB_PREFIX=wallet-e2e-"+randHex(6),
			"HTTP_ADDR="+freeAddr(t),
			"METRICS_ADDR="+freeAddr(t),
		)
		out, err := cmd.CombinedOutput()
		timedOut := ctx.Err() != nil
		cancel()
		if err == nil || timedOut {
			t.Errorf("%s started (or ran 20s) with APP_ENV=production and the development passwords; output:\n%s", prog, out)
			continue
		}
		if !strings.Contains(strings.ToLower(string(out)), "password") {
			t.Errorf("%s refused to start, but its message does not name the password:\n%s", prog, out)
		}
	}
}
