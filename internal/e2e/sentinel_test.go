package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const sentinelMaster = "wallet"

// startSentinels starts a Redis primary, a replica of it, and three
// Sentinels watching them (a quorum of two, the primary declared down
// after one second), all the test's own. It returns the primary, the
// replica and REDIS_URL's redis-sentinel form for them.
func startSentinels(t *testing.T) (primary, replica *RedisServer, url string) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	newServer := func(name string, args ...string) *RedisServer {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		r := &RedisServer{t: t, Addr: freeAddr(t), Log: filepath.Join(dir, name, "redis.log"), Args: args}
		if err := r.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Kill)
		return r
	}
	primary = newServer("primary")
	phost, pport, _ := net.SplitHostPort(primary.Addr)
	replica = newServer("replica", "--replicaof", phost, pport)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if info, ok := waitReplication(ctx, replica, "master_link_status:up"); !ok {
		t.Fatalf("the replica never synced: %s", info)
	}
	var addrs []string
	for i := range 3 {
		addr := freeAddr(t)
		_, port, _ := net.SplitHostPort(addr)
		sdir := filepath.Join(dir, fmt.Sprintf("sentinel%d", i))
		if err := os.MkdirAll(sdir, 0o755); err != nil {
			t.Fatal(err)
		}
		conf := filepath.Join(sdir, "sentinel.conf")
		if err := os.WriteFile(conf, []byte(fmt.Sprintf(
			"port %s\nbind 127.0.0.1\ndir %s\nlogfile %s\nsentinel monitor %s %s %s 2\n"+
				"sentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 5000\nsentinel parallel-syncs %s 1\n",
			port, sdir, filepath.Join(sdir, "sentinel.log"), sentinelMaster, phost, pport,
			sentinelMaster, sentinelMaster, sentinelMaster)), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("redis-server", conf, "--sentinel")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Signal(syscall.SIGKILL); cmd.Wait() })
		sc := redis.NewSentinelClient(&redis.Options{Addr: addr})
		for {
			got, err := sc.GetMasterAddrByName(ctx, sentinelMaster).Result()
			if err == nil && len(got) == 2 && net.JoinHostPort(got[0], got[1]) == primary.Addr {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("sentinel %d never watched the primary: %v %v", i, got, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		sc.Close()
		addrs = append(addrs, addr)
	}
	return primary, replica, "redis-sentinel://" + strings.Join(addrs, ",") + "/0?master=" + sentinelMaster
}

// waitReplication polls r's INFO replication until it contains want or
// ctx ends; it returns the last INFO.
func waitReplication(ctx context.Context, r *RedisServer, want string) (string, bool) {
	rc := r.Client()
	defer rc.Close()
	for {
		info, _ := rc.Info(ctx, "replication").Result()
		if strings.Contains(info, want) {
			return info, true
		}
		if ctx.Err() != nil {
			return info, false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRedisSentinelFailover: with REDIS_URL naming Sentinels, the Redis
// primary is killed under a stream of transfers: the Sentinels promote
// the replica, and the queue, the locks, the sessions and pub/sub carry
// on against it by themselves. No accepted operation is lost or applied
// twice and the audit is clean; meanwhile requests get 503 (never 500).
func TestRedisSentinelFailover(t *testing.T) {
	t.Parallel()
	primary, replica, url := startSentinels(t)
	e := StartEnvWith(t, Options{Workers: 2, Env: map[string]string{"REDIS_URL": url, "LOCK_TTL": "3s"}})
	l := startOutageLoad(t, e, "failover", 6, 100_00, 6)
	time.Sleep(2 * time.Second)
	before := l.seq.Load()
	primary.Kill()
	t.Logf("SIGKILL the Redis primary after %d requests", before)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if info, ok := waitReplication(ctx, replica, "role:master"); !ok {
		l.finish()
		t.Fatalf("the replica was never promoted: %s", info)
	}
	t.Logf("the replica is the primary; %d requests got 503 meanwhile", l.unavailable.Load())
	if !l.waitReady(http.StatusOK, 30*time.Second) {
		t.Error("/readyz not 200 within 30s of the failover")
	}
	// Load on the new primary: new operations are accepted and complete
	// there. (Locks taken on the old primary were replicated and keep
	// their wallets busy until LOCK_TTL; a release the dead primary
	// refused waits for that too.)
	if before, after, ok := l.carriesOn(20, 30*time.Second); !ok {
		t.Errorf("the service did not carry on after the failover: %d accepted before, %d 30 s later", before, after)
	}
	l.finish()
}
