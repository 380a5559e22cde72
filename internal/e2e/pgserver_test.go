package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
)

// PostgresServer is a Postgres cluster of the test's own (initdb into a
// temporary directory, a free port), so the test may stop and start it
// without touching the shared server.
type PostgresServer struct {
	t    *testing.T
	Addr string
	Log  string
	bin  string // the directory of initdb and pg_ctl
	data string

	mu      sync.Mutex
	running bool
}

// StartPostgres creates and starts a cluster, its log beside its data;
// it is stopped and removed at the test's end. Postgres refuses to run
// as root: as root, it runs as the postgres user.
func StartPostgres(t *testing.T) *PostgresServer {
	t.Helper()
	bin, err := postgresBinDir()
	if err != nil {
		t.Fatalf("own postgres: %v", err)
	}
	dir, err := os.MkdirTemp("", "wallet-e2e-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &PostgresServer{t: t, Addr: freeAddr(t), Log: filepath.Join(dir, "postgres.log"), bin: bin,
		data: filepath.Join(dir, "data")}
	if os.Geteuid() == 0 {
		u, err := osuser.Lookup("postgres")
		if err != nil {
			t.Fatalf("own postgres: running as root and %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("own postgres: %v", err)
		}
	}
	if out, err := s.command("initdb", "-D", s.data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
		"--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("own postgres: initdb: %v\n%s", err, out)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.StopImmediate() })
	return s
}

// postgresBinDir finds the directory of pg_ctl: on PATH, else Debian's
// /usr/lib/postgresql/<version>/bin (the newest).
func postgresBinDir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return va - vb
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "pg_ctl")); err == nil {
			return dirs[i], nil
		}
	}
	return "", fmt.Errorf("pg_ctl not found on PATH or in /usr/lib/postgresql/*/bin")
}

func (s *PostgresServer) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(s.bin, name)
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

// URL is the address of database name on the server.
func (s *PostgresServer) URL(name string) string {
	return "postgres://postgres@" + s.Addr + "/" + name + "?sslmode=disable"
}

// Start starts the server and waits until it accepts connections.
func (s *PostgresServer) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return fmt.Errorf("own postgres: already running")
	}
	host, port, _ := net.SplitHostPort(s.Addr)
	opts := fmt.Sprintf("-p %s -c listen_addresses=%s -k %s -c fsync=off -c shared_buffers=32MB -c max_connections=100",
		port, host, filepath.Dir(s.data))
	if out, err := s.command("pg_ctl", "-D", s.data, "-l", s.Log, "-w", "-t", "60", "-o", opts, "start").CombinedOutput(); err != nil {
		return fmt.Errorf("own postgres: start: %v\n%s\nlog:\n%s", err, out, tail(s.Log, 20))
	}
	s.running = true
	return nil
}

// StopImmediate stops the server the way a crash would (pg_ctl stop -m
// immediate: no checkpoint, every connection cut); the next start runs
// crash recovery.
func (s *PostgresServer) StopImmediate() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return nil
	}
	out, err := s.command("pg_ctl", "-D", s.data, "-m", "immediate", "-w", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("own postgres: stop: %v\n%s", err, out)
	}
	s.running = false
	return nil
}
