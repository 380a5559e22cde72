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

// redisSet is a Redis primary, a replica of it and three Sentinels
// watching them (a quorum of two, a server declared down after one
// second), all the test's own.
type redisSet struct {
	t *testing.T
	// Servers are the two servers, Servers[0] started as the primary.
	Servers []*RedisServer
	// Proxies, when the set was started proxied, are toxiproxy proxies in
	// front of each server (Proxies[i] before Servers[i]): the servers
	// announce the proxy's address, so the Sentinels, the replication
	// link and every client reach them through it.
	Proxies []*toxic
	// URL is REDIS_URL's redis-sentinel form for the set.
	URL       string
	sentinels []string
}

// startSentinels starts a redisSet; proxied puts a toxiproxy proxy in
// front of each server.
func startSentinels(t *testing.T, proxied bool) *redisSet {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip(err)
	}
	s := &redisSet{t: t}
	dir := t.TempDir()
	// The address each server is known by: its proxy's, or its own.
	var addrs []string
	for i, name := range []string{"redis0", "redis1"} {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		r := &RedisServer{t: t, Addr: freeAddr(t), Log: filepath.Join(dir, name, "redis.log")}
		addr := r.Addr
		if proxied {
			p, via := newToxicProxy(t, name, "redis://"+r.Addr)
			s.Proxies = append(s.Proxies, p)
			addr = strings.TrimPrefix(via, "redis://")
			host, port, _ := net.SplitHostPort(addr)
			r.Args = append(r.Args, "--replica-announce-ip", host, "--replica-announce-port", port)
		}
		if i == 1 {
			host, port, _ := net.SplitHostPort(addrs[0])
			r.Args = append(r.Args, "--replicaof", host, port)
		}
		if err := r.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Kill)
		s.Servers = append(s.Servers, r)
		addrs = append(addrs, addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if info, ok := waitReplication(ctx, s.Servers[1], "master_link_status:up"); !ok {
		t.Fatalf("the replica never synced: %s", info)
	}
	phost, pport, _ := net.SplitHostPort(addrs[0])
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
		s.sentinels = append(s.sentinels, addr)
		for {
			got, err := s.masterAddr(ctx, i)
			if err == nil && got == addrs[0] {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("sentinel %d never watched the primary: %v %v", i, got, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	s.URL = "redis-sentinel://" + strings.Join(s.sentinels, ",") + "/0?master=" + sentinelMaster
	return s
}

// masterAddr is the primary's address as Sentinel i knows it.
func (s *redisSet) masterAddr(ctx context.Context, i int) (string, error) {
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.sentinels[i], MaxRetries: -1})
	defer sc.Close()
	got, err := sc.GetMasterAddrByName(ctx, sentinelMaster).Result()
	if err != nil {
		return "", err
	}
	if len(got) != 2 {
		return "", fmt.Errorf("sentinel %d: master address %v", i, got)
	}
	return net.JoinHostPort(got[0], got[1]), nil
}

// known is the address server i is known by (its proxy's when proxied).
func (s *redisSet) known(i int) string {
	if s.Proxies != nil {
		return s.Proxies[i].proxy.Listen
	}
	return s.Servers[i].Addr
}

// Primary returns the index of the server the Sentinels name primary now.
func (s *redisSet) Primary(ctx context.Context) (int, error) {
	var last error
	for i := range s.sentinels {
		addr, err := s.masterAddr(ctx, i)
		if err != nil {
			last = err
			continue
		}
		for j := range s.Servers {
			if s.known(j) == addr {
				return j, nil
			}
		}
		last = fmt.Errorf("sentinel %d names %s, none of the servers", i, addr)
	}
	return -1, last
}

// Failover SIGKILLs the primary, waits (up to within) until the Sentinels
// have promoted the other server and it acts as primary, then starts the
// killed one again and waits until it has synced as a replica of the new
// primary. It returns how long the promotion took.
func (s *redisSet) Failover(within time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	old, err := s.Primary(ctx)
	if err != nil {
		return 0, err
	}
	next := 1 - old
	start := time.Now()
	s.Servers[old].Kill()
	if info, ok := waitReplication(ctx, s.Servers[next], "role:master"); !ok {
		// Bring the old primary back, so that the set can become whole
		// again and what runs after this failover is not left without a
		// Redis; the failure stands.
		if err := s.Servers[old].Start(); err != nil {
			return 0, fmt.Errorf("%s never promoted (%s), and restarting %s failed: %w", s.Servers[next].Addr, info, s.Servers[old].Addr, err)
		}
		return 0, fmt.Errorf("%s never promoted: %s", s.Servers[next].Addr, info)
	}
	took := time.Since(start)
	for {
		if p, err := s.Primary(ctx); err == nil && p == next {
			break
		}
		if ctx.Err() != nil {
			return took, fmt.Errorf("the Sentinels never named %s primary", s.Servers[next].Addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := s.Servers[old].Start(); err != nil {
		return took, err
	}
	return took, s.settle(ctx)
}

// Repair makes the set whole again as an operator would when the
// Sentinels do not: the server they name primary becomes one again (it
// may have been told to replicate the other, or be left replicating a
// replica) and the other server its replica. The Sentinels then see their
// primary act as one and find its replica. Sentinels never promote a
// replica whose link to its primary has been down for more than ten
// down-after periods (10 s here), so a set split that long stays split
// without this.
func (s *redisSet) Repair(within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	p, err := s.Primary(ctx)
	if err != nil {
		return err
	}
	rp, rr := s.Servers[p].Client(), s.Servers[1-p].Client()
	defer rp.Close()
	defer rr.Close()
	if err := rp.ReplicaOf(ctx, "NO", "ONE").Err(); err != nil {
		return fmt.Errorf("REPLICAOF NO ONE on %s: %w", s.Servers[p].Addr, err)
	}
	host, port, _ := net.SplitHostPort(s.known(p))
	if err := rr.ReplicaOf(ctx, host, port).Err(); err != nil {
		return fmt.Errorf("REPLICAOF %s on %s: %w", s.known(p), s.Servers[1-p].Addr, err)
	}
	return s.settle(ctx)
}

// Settle waits (up to within) until the set is whole again: the
// Sentinels name a primary, it acts as one, and the other server is its
// synced replica. A fault that leaves it so lets the next failover find a
// replica to promote.
func (s *redisSet) Settle(within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	return s.settle(ctx)
}

func (s *redisSet) settle(ctx context.Context) error {
	var last string
	for {
		if p, err := s.Primary(ctx); err != nil {
			// The deadline's own error says nothing of the set: keep what
			// was seen before it.
			if last == "" || ctx.Err() == nil {
				last = err.Error()
			}
		} else {
			rp, rr := s.Servers[p].Client(), s.Servers[1-p].Client()
			role, _ := rp.Info(ctx, "replication").Result()
			repl, _ := rr.Info(ctx, "replication").Result()
			rp.Close()
			rr.Close()
			_, port, _ := net.SplitHostPort(s.known(p))
			if strings.Contains(role, "role:master") && strings.Contains(repl, "master_link_status:up") &&
				strings.Contains(repl, "master_port:"+port+"\r\n") {
				return nil
			}
			if last == "" || ctx.Err() == nil {
				last = fmt.Sprintf("primary %s:\n%s\nreplica %s:\n%s", s.Servers[p].Addr, role, s.Servers[1-p].Addr, repl)
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("the redis set never settled: %s", last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitReplication polls r's INFO replication until it contains want or
// ctx ends; it returns the last INFO.
func waitReplication(ctx context.Context, r *RedisServer, want string) (string, bool) {
	rc := r.Client()
	defer rc.Close()
	last := ""
	for {
		info, err := rc.Info(ctx, "replication").Result()
		if strings.Contains(info, want) {
			return info, true
		}
		switch {
		case err == nil:
			last = info
		case ctx.Err() == nil || last == "":
			last = err.Error()
		}
		if ctx.Err() != nil {
			return last, false
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
	set := startSentinels(t, false)
	primary, replica := set.Servers[0], set.Servers[1]
	e := StartEnvWith(t, Options{Workers: 2, RedisURL: set.URL, Env: map[string]string{"LOCK_TTL": "3s"}})
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
