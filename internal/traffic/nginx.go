package traffic

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// NginxConfig configures the nginx driver. From and To are the proxy
// addresses of X's and Y's nodes as nginx reaches them ("host:port", or an
// http(s) URL whose host:port is used); a rolling upgrade lists several per
// side.
type NginxConfig struct {
	// File is the upstream file (the plan's upstream_file), which holds
	// the upstream block; it may hold other configuration too. The driver
	// changes only the weight= and down parameters of X's and Y's servers
	// in that block and keeps every other byte; it refuses a block whose
	// weights would not split requests (docs/traffic.md). A symbolic link
	// stays one: the file it points to is replaced.
	File string
	// Upstream is the upstream block's name, as proxy_pass names it.
	Upstream string
	From, To []string
	// Test is the configuration test argv (e.g. nginx -t); empty skips
	// the test.
	Test []string
	// Reload is the reload argv (e.g. nginx -s reload); required.
	Reload []string
	// PidFile is nginx's pid file (its pid directive), where the driver
	// finds the master process whose workers tell whether the upstream
	// file is loaded; DefaultNginxPidFile when empty.
	PidFile string
	// Keepalive is the keepalive directive (idle connections to the
	// upstream servers cached per worker) of a file the driver creates
	// because there is none; 0 leaves it out. An existing file keeps its
	// own.
	Keepalive int
	// Timeout bounds each command (test, reload); default 30s.
	Timeout time.Duration
}

// DefaultNginxPidFile is the pid file of Debian's and Ubuntu's nginx.
const DefaultNginxPidFile = "/run/nginx.pid"

// Nginx drives an nginx load balancer by editing the weights of an
// upstream block's servers and reloading nginx. Safe for concurrent use (calls are serialised); it does
// not guard against other processes writing the same file.
//
// The file alone is not evidence of what nginx routes: a crash (or a
// failed reload) between writing it and the reload leaves weights nginx
// never loaded. So Weights reports the file's weights only when nginx's
// own processes show they were loaded: every accepting worker of the
// master in PidFile started after the file was last written (a reload
// starts new workers after reading the configuration; the old ones are
// renamed "shutting down"). Otherwise it fails with a *NotLoadedError and
// the caller sets the weights again; SetWeights always tests and reloads
// and returns once nginx's workers have the file. Read from /proc (Linux);
// nginx must run on the same host with master_process on. Not detected:
// another process reloading nginx at the moment the file is written, or a
// worker respawned after its own crash (both would count as loaded).
type Nginx struct {
	cfg      NginxConfig
	from, to []string
	mu       sync.Mutex
	// loaded checks that nginx runs the file as written at the given time
	// (nginxLoaded; tests with a fake nginx replace it).
	loaded func(written time.Time) error
}

// NewNginx checks cfg; it touches neither the file nor nginx.
func NewNginx(cfg NginxConfig) (*Nginx, error) {
	fail := func(err error) (*Nginx, error) {
		return nil, &Error{Op: "configure nginx", Target: cfg.File, Err: err}
	}
	switch {
	case cfg.File == "":
		return fail(errors.New("upstream file is empty"))
	case cfg.Upstream == "":
		return fail(errors.New("upstream name is empty"))
	case len(cfg.Reload) == 0:
		return fail(errors.New("reload command is empty"))
	case len(cfg.From) == 0 || len(cfg.To) == 0:
		return fail(errors.New("each side needs at least one proxy address"))
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.PidFile == "" {
		cfg.PidFile = DefaultNginxPidFile
	}
	n := &Nginx{cfg: cfg}
	n.loaded = func(written time.Time) error { return nginxLoaded(cfg.PidFile, written) }
	seen := map[string]bool{}
	for _, side := range []struct {
		in  []string
		out *[]string
	}{{cfg.From, &n.from}, {cfg.To, &n.to}} {
		for _, a := range side.in {
			hp, err := hostPort(a)
			if err != nil {
				return fail(err)
			}
			if seen[hp] {
				return fail(fmt.Errorf("address %s is listed twice", hp))
			}
			seen[hp] = true
			*side.out = append(*side.out, hp)
		}
	}
	return n, nil
}

// hostPort accepts "host:port" or an http(s) URL.
func hostPort(a string) (string, error) {
	if u, err := url.Parse(a); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		if u.Port() != "" {
			return u.Host, nil
		}
		if u.Scheme == "https" {
			return net.JoinHostPort(u.Hostname(), "443"), nil
		}
		return net.JoinHostPort(u.Hostname(), "80"), nil
	}
	if _, _, err := net.SplitHostPort(a); err != nil {
		return "", fmt.Errorf("proxy address %q is neither host:port nor an http(s) URL", a)
	}
	return a, nil
}

// SetWeights sets the weight= and down parameters of X's and Y's servers
// for w (a side at 0 as `down`), keeping the rest of the file as it is (a
// missing file is created with the upstream block alone), replacing the
// file atomically (a temporary file in the same directory, fsynced,
// renamed) unless it already holds exactly this content, runs the
// test command and then the reload command, and waits (up to Timeout)
// until nginx's workers have loaded the file (see [Nginx]). It reloads
// even when the file already matched: after a crash between the write and
// the reload, the file matches and nginx still routes the old weights.
// When the test or the reload fails, the previous file is put back (with
// its modification time, so that it still counts as loaded when it was)
// and the error carries nginx's output.
//
// Cancellation before the reload starts puts the previous file back and
// returns ctx's error; the reload itself is not interrupted (it is bounded
// by Timeout), so the file and what nginx runs stay in agreement.
func (n *Nginx) SetWeights(ctx context.Context, w Weights) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	fail := func(op string, err error) error { return &Error{Op: op, Target: n.cfg.File, Err: err} }
	fw, tw, err := serverWeights(w, len(n.from), len(n.to))
	if err != nil {
		return fail("set weights", err)
	}
	path, err := realPath(n.cfg.File)
	if err != nil {
		return fail("read upstream file", err)
	}
	prev, err := os.ReadFile(path)
	existed := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail("read upstream file", err)
	}
	var next []byte
	var prevMod time.Time
	if existed {
		ub, err := n.readUpstream(string(prev))
		if err != nil {
			return fail("read upstream file", fmt.Errorf("refusing to change a file that breaks the upstream file's contract (docs/traffic.md): %w", err))
		}
		next = []byte(editUpstream(string(prev), ub, w, fw, tw))
		st, err := os.Stat(path)
		if err != nil {
			return fail("read upstream file", err)
		}
		prevMod = st.ModTime()
	} else {
		next = []byte(renderUpstream(n.cfg.Upstream, n.cfg.Keepalive, w, n.from, n.to, fw, tw))
	}
	same := existed && bytes.Equal(prev, next)
	if err := ctx.Err(); err != nil {
		return fail("set weights", err)
	}
	if !same {
		if err := writeAtomic(path, next); err != nil {
			return fail("write upstream file", err)
		}
	}
	restore := func(cause error, op string) error {
		if same {
			return fail(op, cause) // the file was not changed
		}
		var rerr error
		if existed {
			if rerr = writeAtomic(path, prev); rerr == nil {
				rerr = os.Chtimes(path, time.Time{}, prevMod)
			}
		} else {
			rerr = os.Remove(path)
		}
		if rerr != nil {
			return fail(op, fmt.Errorf("%w; restoring the previous upstream file also failed: %v", cause, rerr))
		}
		return fail(op, fmt.Errorf("%w (previous upstream file restored)", cause))
	}
	st, err := os.Stat(path)
	if err != nil {
		return restore(err, "read upstream file")
	}
	written := st.ModTime()
	// Workers started from now on are unambiguously younger than the
	// file (see nginxLoaded).
	if err := waitNextTick(written); err != nil {
		return restore(err, "set weights")
	}
	if len(n.cfg.Test) > 0 {
		tctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
		_, err := run(tctx, n.cfg.Test, nil)
		cancel()
		if err != nil {
			return restore(err, "test configuration ("+n.cfg.Test[0]+")")
		}
	}
	if err := ctx.Err(); err != nil {
		return restore(err, "set weights")
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.cfg.Timeout)
	defer cancel()
	if _, err := run(rctx, n.cfg.Reload, nil); err != nil {
		return restore(err, "reload ("+n.cfg.Reload[0]+")")
	}
	// nginx -s reload returns once the master has the signal; the new
	// workers come a moment later.
	for {
		err := n.loaded(written)
		if err == nil {
			return nil
		}
		if !errors.As(err, new(*NotLoadedError)) {
			return fail("reload ("+n.cfg.Reload[0]+")", fmt.Errorf("cannot tell whether nginx loaded the upstream file: %w", err))
		}
		if rctx.Err() != nil {
			return fail("reload ("+n.cfg.Reload[0]+")", fmt.Errorf("nginx did not load the upstream file within %s: %w", n.cfg.Timeout, err))
		}
		select {
		case <-rctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Weights reads the upstream file back: the servers of the upstream block
// (other directives and comments are ignored), a `down` server counting as
// 0. It fails when the block is missing, cannot be parsed, or breaks the
// contract SetWeights refuses to change (X's and Y's addresses each once,
// none of them backup, any other server backup or down, no ip_hash, hash,
// sticky or include): then the weights are not what nginx routes.
// Read-only; safe to repeat.
//
// The file's weights are reported only when nginx has loaded it (see
// [Nginx]): otherwise Weights fails with a *NotLoadedError, and when
// nginx's processes cannot be read, with the reason.
func (n *Nginx) Weights(ctx context.Context) (Weights, error) {
	fail := func(err error) (Weights, error) {
		return Weights{}, &Error{Op: "read weights", Target: n.cfg.File, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	f, err := os.Open(n.cfg.File)
	if err != nil {
		return fail(err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fail(err)
	}
	src, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return fail(err)
	}
	ub, err := n.readUpstream(string(src))
	if err != nil {
		return fail(err)
	}
	var ft, tt int
	for _, s := range ub.servers {
		w := s.weight
		if s.down {
			w = 0
		}
		switch s.side {
		case "from":
			ft += w
		case "to":
			tt += w
		}
	}
	w, err := splitOf(ft, tt)
	if err != nil {
		return fail(err)
	}
	if err := n.loadedSettled(ctx, st.ModTime()); err != nil {
		return fail(fmt.Errorf("the file says %s, but: %w", w, err))
	}
	return w, nil
}

// readUpstream parses the upstream block in src and checks it against the
// contract (see classify).
func (n *Nginx) readUpstream(src string) (*upstreamBlock, error) {
	ub, err := parseUpstream(n.cfg.File, src, n.cfg.Upstream)
	if err != nil {
		return nil, err
	}
	if err := classify(n.cfg.File, n.cfg.Upstream, ub, n.from, n.to); err != nil {
		return nil, err
	}
	return ub, nil
}

// realPath is the file that path names: the end of its symbolic links, so
// that replacing it keeps the links (sites-enabled → sites-available);
// path itself when it does not exist.
func realPath(path string) (string, error) {
	st, err := os.Lstat(path)
	if err != nil || st.Mode()&fs.ModeSymlink == 0 {
		return path, nil // a missing file is created; other errors show on reading
	}
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("the upstream file is a symbolic link that cannot be followed: %w", err)
	}
	return p, nil
}

// writeAtomic replaces path with data: a temporary file in the same
// directory, written and fsynced, renamed over path, then the directory
// fsynced, so that nginx (or a crash) sees the old or the new content,
// never a mix. The file keeps path's permissions, 0644 when new.
func writeAtomic(path string, data []byte) error {
	mode := fs.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".upshift-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename there is nothing to remove
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// loadedSettled is loaded, waiting (up to two seconds) while a reload is
// under way: new workers forked and not yet serving, no accepting worker.
func (n *Nginx) loadedSettled(ctx context.Context, written time.Time) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		err := n.loaded(written)
		var nl *NotLoadedError
		if !errors.As(err, &nl) || nl.Worker != 0 || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(10 * time.Millisecond):
		}
	}
}
