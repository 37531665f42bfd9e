package traffic

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// HAProxyConfig configures the HAProxy driver: the runtime API socket (a
// `stats socket ... level admin`), the backend, and the names of X's and
// Y's servers in it (several per side for a rolling upgrade).
type HAProxyConfig struct {
	Socket  string
	Backend string
	From    []string // server names, as `backend/name` addresses them
	To      []string
	// Timeout bounds each runtime API command; default 10s.
	Timeout time.Duration
}

// HAProxy drives HAProxy through its runtime API: `set weight` changes take
// effect at once, without a reload, and weight 0 drains a server (no new
// requests; in-flight ones finish). Before setting or reading weights it
// checks that they split requests (see contract; docs/traffic.md). Runtime changes are not written to
// haproxy.cfg: a restart of HAProxy (not a reload with server-state-file)
// returns to the configured weights, which Weights then reports.
type HAProxy struct {
	cfg HAProxyConfig
}

// haproxyMaxWeight is HAProxy's largest server weight.
const haproxyMaxWeight = 256

// NewHAProxy checks cfg; it does not contact HAProxy.
func NewHAProxy(cfg HAProxyConfig) (*HAProxy, error) {
	fail := func(err error) (*HAProxy, error) {
		return nil, &Error{Op: "configure haproxy", Target: cfg.Socket, Err: err}
	}
	switch {
	case cfg.Socket == "":
		return fail(errors.New("runtime API socket is empty"))
	case cfg.Backend == "":
		return fail(errors.New("backend is empty"))
	case len(cfg.From) == 0 || len(cfg.To) == 0:
		return fail(errors.New("each side needs at least one server"))
	}
	seen := map[string]bool{}
	for _, s := range append(append([]string{}, cfg.From...), cfg.To...) {
		if s == "" || strings.ContainsAny(s, " \t\n;/") {
			return fail(fmt.Errorf("invalid server name %q", s))
		}
		if seen[s] {
			return fail(fmt.Errorf("server %s is listed twice", s))
		}
		seen[s] = true
	}
	if strings.ContainsAny(cfg.Backend, " \t\n;/") {
		return fail(fmt.Errorf("invalid backend name %q", cfg.Backend))
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	return &HAProxy{cfg: cfg}, nil
}

// SetWeights sets every server's weight with `set weight backend/server N`
// (the side's share split evenly across its servers), servers that keep or
// gain traffic first and the ones going to 0 last, so that the backend
// never has all weights at 0. Absolute values: safe to repeat.
//
// Each server is one runtime API command; cancellation stops before the
// next one, leaving the weights partly applied (Weights shows which) until
// the next SetWeights. An answer other than the empty success reply is an
// error carrying HAProxy's text.
func (h *HAProxy) SetWeights(ctx context.Context, w Weights) error {
	fw, tw, err := serverWeights(w, len(h.cfg.From), len(h.cfg.To))
	if err != nil {
		return &Error{Op: "set weights", Target: h.cfg.Socket, Err: err}
	}
	if fw > haproxyMaxWeight || tw > haproxyMaxWeight {
		return &Error{Op: "set weights", Target: h.cfg.Socket, Err: fmt.Errorf("%s over %d and %d servers needs per-server weights %d and %d, above HAProxy's maximum %d",
			w, len(h.cfg.From), len(h.cfg.To), fw, tw, haproxyMaxWeight)}
	}
	if _, err := h.contract(ctx); err != nil {
		return err
	}
	type set struct {
		server string
		weight int
	}
	var up, down []set
	for _, s := range h.cfg.From {
		if fw > 0 {
			up = append(up, set{s, fw})
		} else {
			down = append(down, set{s, 0})
		}
	}
	for _, s := range h.cfg.To {
		if tw > 0 {
			up = append(up, set{s, tw})
		} else {
			down = append(down, set{s, 0})
		}
	}
	for _, s := range append(up, down...) {
		cmd := fmt.Sprintf("set weight %s/%s %d", h.cfg.Backend, s.server, s.weight)
		out, err := h.command(ctx, cmd)
		if err != nil {
			return err
		}
		if msg := strings.TrimSpace(out); msg != "" {
			return &Error{Op: cmd, Target: h.cfg.Socket, Err: errors.New(msg)}
		}
	}
	return nil
}

// Weights reads the servers' current weights with `show servers state
// BACKEND` (column srv_uweight, the weight `set weight` sets) and turns the
// sides' totals into percent. Health and maintenance states are not
// weights and are not reflected. It fails when the backend breaks the
// contract (see contract), when a configured server is missing from the
// backend, or when the backend has another server, not a backup one, with
// a non-zero weight (it would take traffic neither side accounts for).
// Read-only; safe to repeat.
func (h *HAProxy) Weights(ctx context.Context) (Weights, error) {
	backup, err := h.contract(ctx)
	if err != nil {
		return Weights{}, err
	}
	cmd := "show servers state " + h.cfg.Backend
	out, err := h.command(ctx, cmd)
	if err != nil {
		return Weights{}, err
	}
	fail := func(err error) (Weights, error) {
		return Weights{}, &Error{Op: cmd, Target: h.cfg.Socket, Err: err}
	}
	servers, err := parseServersState(out, h.cfg.Backend)
	if err != nil {
		return fail(err)
	}
	side := map[string]string{}
	for _, s := range h.cfg.From {
		side[s] = "from"
	}
	for _, s := range h.cfg.To {
		side[s] = "to"
	}
	var ft, tt int
	seen := map[string]bool{}
	for _, s := range servers {
		switch side[s.name] {
		case "from":
			ft += s.weight
		case "to":
			tt += s.weight
		default:
			if s.weight > 0 && !backup[s.name] {
				return fail(fmt.Errorf("server %s in backend %s is neither a from nor a to server and has weight %d (and is not a backup server)", s.name, h.cfg.Backend, s.weight))
			}
		}
		seen[s.name] = true
	}
	for s, sd := range side {
		if !seen[s] {
			return fail(fmt.Errorf("%s server %s is not in backend %s", sd, s, h.cfg.Backend))
		}
	}
	wts, err := splitOf(ft, tt)
	if err != nil {
		return fail(err)
	}
	return wts, nil
}

// haproxyRefusedAlgos are balance algorithms (as `show stat` names them)
// under which the weights are not a split of requests: the choice follows
// a key, so all the requests of one key go to one side, or ignores
// weights.
var haproxyRefusedAlgos = map[string]string{
	"source":     "requests are balanced by client address",
	"uri":        "requests are balanced by a hash of the URI",
	"url_param":  "requests are balanced by a hash of a URL parameter",
	"hdr":        "requests are balanced by a hash of a header",
	"rdp-cookie": "requests are balanced by a hash of the RDP cookie",
	"hash":       "requests are balanced by a hash of the expression it names",
	"first":      "the first server takes every request up to its maxconn, whatever the weights",
}

// contract checks, with `show stat BACKEND 6 -1` (the backend and its
// servers), what makes the weights a split of requests (docs/traffic.md):
// a balance algorithm that is not keyed, and no backup flag on X's and Y's
// servers (a backup server takes requests only when every other server is
// unavailable: its weight is no share). It returns the backend's backup
// servers. HAProxy's answers are read as CSV, columns by name.
func (h *HAProxy) contract(ctx context.Context) (map[string]bool, error) {
	cmd := "show stat " + h.cfg.Backend + " 6 -1"
	out, err := h.command(ctx, cmd)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (map[string]bool, error) { return nil, &Error{Op: cmd, Target: h.cfg.Socket, Err: err} }
	if !strings.HasPrefix(out, "# ") {
		return fail(fmt.Errorf("unexpected answer (a CSV header expected): %q", truncateText(out)))
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(out, "# ")))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		return fail(fmt.Errorf("unreadable answer: %w", err))
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	for _, name := range []string{"pxname", "svname", "bck", "algo"} {
		if _, ok := col[name]; !ok {
			return fail(fmt.Errorf("the answer has no %s column (HAProxy 2.0 or later is needed)", name))
		}
	}
	get := func(row []string, name string) string {
		if i := col[name]; i < len(row) {
			return row[i]
		}
		return ""
	}
	side := map[string]bool{}
	for _, s := range append(append([]string{}, h.cfg.From...), h.cfg.To...) {
		side[s] = true
	}
	backup := map[string]bool{}
	seenBackend := false
	for _, row := range rows[1:] {
		if get(row, "pxname") != h.cfg.Backend {
			continue
		}
		name := get(row, "svname")
		if name == "BACKEND" {
			seenBackend = true
			if why, ok := haproxyRefusedAlgos[get(row, "algo")]; ok {
				return fail(fmt.Errorf("backend %s: balance %s: %s, so the weights do not split requests: Upshift does not shift traffic through it; use balance roundrobin or leastconn in this backend, or traffic \"command\"",
					h.cfg.Backend, get(row, "algo"), why))
			}
			continue
		}
		if get(row, "bck") == "1" {
			if side[name] {
				return fail(fmt.Errorf("backend %s: server %s is a backup server: it takes requests only when every other server is unavailable, so its weight is not a share of traffic; remove backup from X's and Y's servers (a backup server that is neither X's nor Y's is kept)",
					h.cfg.Backend, name))
			}
			backup[name] = true
		}
	}
	if !seenBackend {
		return fail(fmt.Errorf("backend %s is not in the answer: %q", h.cfg.Backend, truncateText(out)))
	}
	return backup, nil
}

type serverState struct {
	name   string
	weight int
}

// parseServersState reads `show servers state` output: a format version
// line, a "# be_id be_name srv_id srv_name ..." header naming the columns,
// then one line per server. Columns are found by name, so that versions
// adding columns still parse.
func parseServersState(out, backend string) ([]serverState, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 || strings.TrimSpace(lines[0]) != "1" {
		return nil, fmt.Errorf("unexpected answer (format version 1 expected): %q", truncateText(out))
	}
	col := map[string]int{}
	var servers []serverState
	for _, l := range lines[1:] {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if strings.HasPrefix(l, "#") {
			for i, name := range strings.Fields(strings.TrimPrefix(l, "#")) {
				col[name] = i
			}
			continue
		}
		bi, ok1 := col["be_name"]
		ni, ok2 := col["srv_name"]
		wi, ok3 := col["srv_uweight"]
		if !ok1 || !ok2 || !ok3 {
			return nil, errors.New("header lacks be_name, srv_name or srv_uweight")
		}
		f := strings.Fields(l)
		if len(f) <= max(bi, ni, wi) {
			return nil, fmt.Errorf("short server line %q", l)
		}
		if f[bi] != backend {
			continue
		}
		w, err := strconv.Atoi(f[wi])
		if err != nil || w < 0 {
			return nil, fmt.Errorf("server %s: weight %q is not a number", f[ni], f[wi])
		}
		servers = append(servers, serverState{f[ni], w})
	}
	if len(col) == 0 {
		return nil, fmt.Errorf("no column header in answer %q", truncateText(out))
	}
	return servers, nil
}

// command sends one runtime API command on a fresh connection and returns
// the answer (HAProxy closes the connection after it in non-interactive
// mode). HAProxy's refusals ("Can't find backend.", "No such server.") are
// a one-line answer the callers check for.
func (h *HAProxy) command(ctx context.Context, cmd string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	fail := func(err error) (string, error) { return "", &Error{Op: cmd, Target: h.cfg.Socket, Err: err} }
	c, err := (&net.Dialer{}).DialContext(ctx, "unix", h.cfg.Socket)
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		return fail(err)
	}
	var out bytes.Buffer
	if _, err := io.Copy(&out, io.LimitReader(c, 1<<20)); err != nil {
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		return fail(err)
	}
	return out.String(), nil
}

func truncateText(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
