// Command devenv gives `make run` a Postgres and a Redis on a bare
// machine: for each of DATABASE_URL and REDIS_URL (or their defaults)
// that names this host and where nothing answers, it starts a private
// server on that port with its data under RUN_DIR (default .run/), kept
// between runs, and says so. Where something answers, it does nothing.
// It needs the servers' binaries (Debian's postgresql and redis-server
// packages); Postgres runs as the postgres user when started by root.
package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "devenv:", err)
		os.Exit(1)
	}
}

func run() error {
	dir, err := filepath.Abs(envOr("RUN_DIR", ".run"))
	if err != nil {
		return err
	}
	pgAddr, err := localAddr(envOr("DATABASE_URL", "postgres://postgres@localhost:5432/wallet?sslmode=disable"), "5432")
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	redisAddr, err := localAddr(envOr("REDIS_URL", "redis://localhost:6379/0"), "6379")
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	if pgAddr != "" && !answers(pgAddr) {
		if err := startPostgres(dir, pgAddr); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
	}
	if redisAddr != "" && !answers(redisAddr) {
		if err := startRedis(dir, redisAddr); err != nil {
			return fmt.Errorf("redis: %w", err)
		}
	}
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// localAddr is the URL's host:port when the host is this machine, else
// "" (a remote server is not ours to start).
func localAddr(raw, defPort string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = defPort
	}
	switch host {
	case "localhost", "127.0.0.1", "::1", "":
		return net.JoinHostPort("127.0.0.1", port), nil
	}
	return "", nil
}

func answers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// binary finds a program on PATH or in Debian's Postgres directories.
func binary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if p := filepath.Join(d, name); exists(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found (install Debian's postgresql and redis-server, or point DATABASE_URL and REDIS_URL at running servers)", name)
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// asPostgres runs a Postgres program, as the postgres user when we are
// root (Postgres refuses to run as root).
func asPostgres(path string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func startPostgres(dir, addr string) error {
	initdb, err := binary("initdb")
	if err != nil {
		return err
	}
	pgctl, err := binary("pg_ctl")
	if err != nil {
		return err
	}
	pgDir := filepath.Join(dir, "postgres")
	data := filepath.Join(pgDir, "data")
	if err := os.MkdirAll(pgDir, 0o755); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		u, err := osuser.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running as root, and %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(pgDir, uid, gid); err != nil {
			return err
		}
	}
	if !exists(filepath.Join(data, "PG_VERSION")) {
		fmt.Printf("devenv: creating a Postgres cluster in %s\n", data)
		if out, err := asPostgres(initdb, "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8").CombinedOutput(); err != nil {
			return fmt.Errorf("initdb: %w\n%s", err, out)
		}
	}
	host, port, _ := net.SplitHostPort(addr)
	log := filepath.Join(pgDir, "postgres.log")
	opts := fmt.Sprintf("-p %s -c listen_addresses=%s -k %s", port, host, pgDir)
	if out, err := asPostgres(pgctl, "-D", data, "-l", log, "-w", "-t", "60", "-o", opts, "start").CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl start: %w\n%s", err, out)
	}
	stop := pgctl + " -D " + data + " stop"
	if os.Geteuid() == 0 {
		stop = "runuser -u postgres -- " + stop
	}
	fmt.Printf("devenv: nothing answered at %s: started Postgres there (data %s, log %s; stop: %s)\n",
		addr, data, log, stop)
	return nil
}

func startRedis(dir, addr string) error {
	bin, err := binary("redis-server")
	if err != nil {
		return err
	}
	rdir := filepath.Join(dir, "redis")
	if err := os.MkdirAll(rdir, 0o755); err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(addr)
	log := filepath.Join(rdir, "redis.log")
	cmd := exec.Command(bin, "--daemonize", "yes", "--port", port, "--bind", host, "--dir", rdir,
		"--save", "", "--appendonly", "no", "--logfile", log, "--pidfile", filepath.Join(rdir, "redis.pid"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("redis-server: %w\n%s", err, out)
	}
	for deadline := time.Now().Add(10 * time.Second); !answers(addr); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			return errors.New("redis-server did not answer within 10s; see " + log)
		}
	}
	fmt.Printf("devenv: nothing answered at %s: started Redis there (no persistence, log %s; stop: redis-cli -p %s shutdown)\n",
		addr, log, port)
	return nil
}
