package testenv

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// cluster is a throwaway PostgreSQL cluster: a data directory in a
// temporary directory and a postgres server process, child of the test
// binary, listening on 127.0.0.1 and on a unix socket in that directory.
type cluster struct {
	dir  string // temporary directory: data/, sock/, postgres.log
	proc *proc  // the postmaster
	pg   *PG
}

// clusterSettings are appended to postgresql.conf: durability off and
// small logs, since the cluster lives for one test binary.
const clusterSettings = `
listen_addresses = '127.0.0.1'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
max_wal_size = '1GB'
checkpoint_timeout = '30min'
shared_buffers = '64MB'
autovacuum = off
log_min_messages = warning
log_min_error_statement = error
logging_collector = off
`

// pgBinDir finds the directory of initdb and postgres: `pg_config --bindir`
// when it holds them, else the newest /usr/lib/postgresql/*/bin.
func pgBinDir() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
				return false
			}
		}
		return true
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); has(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		return v
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	return "", &errMissing{binary: "initdb and postgres", pkg: "postgresql",
		details: "looked in `pg_config --bindir` and /usr/lib/postgresql/*/bin"}
}

// startCluster creates and starts a cluster. When running as root, the
// server runs as the OS user postgres (PostgreSQL refuses to run as root)
// and the temporary directory belongs to that user.
func startCluster() (*cluster, error) {
	bin, err := pgBinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "upshift-pg-")
	if err != nil {
		return nil, fmt.Errorf("create cluster directory: %w", err)
	}
	c := &cluster{dir: dir}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	cred, err := c.prepareDir()
	if err != nil {
		return nil, err
	}
	if err := c.initData(bin, cred); err != nil {
		return nil, err
	}
	// Trust on the socket and 127.0.0.1 only: replace initdb's pg_hba.conf.
	if err := c.appendFile("data/pg_hba.conf", "local all all trust\nhost all all 127.0.0.1/32 trust\n", true); err != nil {
		return nil, err
	}
	if err := c.appendFile("data/postgresql.conf", clusterSettings, false); err != nil {
		return nil, err
	}
	err = retryPorts(1, func(ports []int) error { return c.run(bin, cred, ports[0]) })
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	ok = true
	return c, nil
}

// initData fills data/ with a fresh cluster: a copy of the cached template
// when one exists for these binaries, else initdb's output (which then
// becomes the template). Copying takes a fraction of initdb's time, and
// every test binary that uses PostgreSQL pays it.
func (c *cluster) initData(bin string, cred *syscall.Credential) error {
	tmpl, err := templatePath(bin, cred)
	if err != nil {
		return err
	}
	if tmpl != "" && validTemplate(tmpl, cred) {
		if err := runCmd(exec.Command("cp", "-a", tmpl+"/.", c.path("data"))); err == nil {
			return nil
		}
		// A template being removed or damaged: fall back to initdb.
		if err := os.RemoveAll(c.path("data")); err != nil {
			return fmt.Errorf("clear data directory: %w", err)
		}
		if _, err := c.prepareDir(); err != nil {
			return err
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", c.path("data"), "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.Dir = c.dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if err := runCmd(initdb); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	if tmpl != "" {
		saveTemplate(c.path("data"), tmpl)
	}
	return nil
}

// templatePath names the cached initdb output for these binaries and this
// owner, in the system temporary directory: the name holds a hash of the
// bin directory and `postgres --version`, so another PostgreSQL gets its
// own template. "" means no caching (the version could not be read).
func templatePath(bin string, cred *syscall.Credential) (string, error) {
	out, err := exec.Command(filepath.Join(bin, "postgres"), "--version").Output()
	if err != nil {
		return "", nil
	}
	sum := sha256.Sum256([]byte(bin + "\x00" + string(out) + "\x00" + initdbFlagsVersion))
	return filepath.Join(os.TempDir(), fmt.Sprintf("upshift-testenv-pgtemplate-%x-uid%d", sum[:6], ownerUID(cred))), nil
}

// initdbFlagsVersion changes whenever the initdb flags change, so that old
// templates are not reused.
const initdbFlagsVersion = "v1 -U postgres --auth=trust --encoding=UTF8 --locale=C"

func ownerUID(cred *syscall.Credential) int {
	if cred != nil {
		return int(cred.Uid)
	}
	return os.Geteuid()
}

// validTemplate accepts a template that is complete (PG_VERSION exists)
// and belongs to the cluster's owner, so that a directory planted in the
// shared temporary directory by another user is not used.
func validTemplate(tmpl string, cred *syscall.Credential) bool {
	for _, p := range []string{tmpl, filepath.Join(tmpl, "PG_VERSION")} {
		fi, err := os.Stat(p)
		if err != nil {
			return false
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || int(st.Uid) != ownerUID(cred) {
			return false
		}
	}
	return true
}

// saveTemplate copies a fresh data directory to tmpl, atomically (copy,
// then rename); when several test binaries race, one rename wins and the
// others drop their copy. Failures only cost the next binary an initdb.
func saveTemplate(data, tmpl string) {
	tmp := fmt.Sprintf("%s.tmp%d", tmpl, os.Getpid())
	if err := runCmd(exec.Command("cp", "-a", data, tmp)); err != nil {
		os.RemoveAll(tmp)
		return
	}
	if err := os.Rename(tmp, tmpl); err != nil {
		os.RemoveAll(tmp)
	}
}

func (c *cluster) path(rel string) string { return filepath.Join(c.dir, rel) }

// prepareDir creates data/ and sock/ and, when running as root, hands the
// directory to the postgres user and returns its credentials.
func (c *cluster) prepareDir() (*syscall.Credential, error) {
	for _, d := range []string{"data", "sock"} {
		if err := os.Mkdir(c.path(d), 0o700); err != nil {
			return nil, fmt.Errorf("create cluster directory: %w", err)
		}
	}
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL must run as the OS user postgres: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, p := range []string{"", "data", "sock"} {
		if err := os.Chown(c.path(p), uid, gid); err != nil {
			return nil, fmt.Errorf("hand cluster directory to postgres: %w", err)
		}
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// appendFile appends text to the file rel (or replaces its content).
func (c *cluster) appendFile(rel, text string, replace bool) error {
	flag := os.O_WRONLY | os.O_APPEND
	if replace {
		flag = os.O_WRONLY | os.O_TRUNC
	}
	f, err := os.OpenFile(c.path(rel), flag, 0)
	if err != nil {
		return fmt.Errorf("configure cluster: %w", err)
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return fmt.Errorf("configure cluster: %w", err)
	}
	return f.Close()
}

// run starts postgres on port and waits until it accepts connections. On
// failure the process is gone and the error holds the log's end.
func (c *cluster) run(bin string, cred *syscall.Credential, port int) error {
	logPath := c.path("postgres.log")
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", c.path("data"),
		"-p", strconv.Itoa(port), "-k", c.path("sock"))
	cmd.Dir = c.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	// If the test binary dies without running Main's cleanup, SIGQUIT makes
	// the postmaster stop its backends and exit at once.
	p, err := startProc(cmd, logPath, syscall.SIGQUIT)
	if err != nil {
		return err
	}
	pg := &PG{Host: "127.0.0.1", Port: port, User: "postgres", logPath: logPath}
	pg.admin = url.URL{Scheme: "postgres", User: url.User("postgres"),
		Host: fmt.Sprintf("127.0.0.1:%d", port), Path: "/postgres", RawQuery: "sslmode=disable"}
	ready := func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, pg.admin.String())
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		_, err = conn.Exec(ctx, "SELECT 1")
		return err
	}
	if err := p.waitUntil(60*time.Second, ready); err != nil {
		_ = p.stop(syscall.SIGQUIT, 10*time.Second)
		return err
	}
	c.proc, c.pg = p, pg
	return nil
}

// stop shuts the server down (fast shutdown: SIGINT; SIGKILL after 30 s)
// and removes the temporary directory.
func (c *cluster) stop() error {
	var errs []error
	if c.proc != nil {
		// SIGINT: fast shutdown; after 30 s the process group is killed.
		if err := c.proc.stop(syscall.SIGINT, 30*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove cluster directory: %w", err))
	}
	return errors.Join(errs...)
}
