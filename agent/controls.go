package agent

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/internal/engine"
)

// Runtime controls: POST /api/v1/plans/{name}/approve|pause|resume|abort
// with {"item", "reason", "by"}, behind the admin token (Config.AdminToken,
// "Authorization: Bearer TOKEN"). The control is validated against the
// journal and written there (engine.Control): it holds across a restart
// and a leader change, whichever agent received it; the leader acts on it
// at the plan's next step boundary.

// ControlResult is a control's answer.
type ControlResult struct {
	Plan    string    `json:"plan"`
	Action  string    `json:"action"`
	Seq     int64     `json:"seq"`
	Time    time.Time `json:"time"`
	Message string    `json:"message"`
}

func (a *Agent) controlRoutes(mux *http.ServeMux) {
	for _, action := range []string{engine.ActionApprove, engine.ActionPause, engine.ActionResume, engine.ActionAbort} {
		mux.HandleFunc("POST /api/v1/plans/{name}/"+action, func(w http.ResponseWriter, r *http.Request) { a.control(w, r, action) })
	}
}

func (a *Agent) control(w http.ResponseWriter, r *http.Request, action string) {
	name := r.PathValue("name")
	if why := crossSite(r); why != "" {
		controlError(w, http.StatusForbidden, "cross-site request refused: "+why)
		return
	}
	if a.cfg.AdminToken == "" {
		controlError(w, http.StatusForbidden, "runtime controls are disabled: start the agent with --admin-token-env NAME")
		return
	}
	if !tokenOK(r, a.cfg.AdminToken) {
		// The token sent is never logged nor echoed.
		a.log.Warn("runtime control refused: wrong or missing admin token", "plan", name, "action", action, "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="upshift"`)
		controlError(w, http.StatusUnauthorized, "wrong or missing admin token (Authorization: Bearer TOKEN)")
		return
	}
	var req engine.ControlRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		controlError(w, http.StatusBadRequest, fmt.Sprintf("the body must be JSON {\"item\", \"reason\", \"by\"}: %v", err))
		return
	}
	req.Action = action
	if action != engine.ActionApprove && req.Item != "" {
		controlError(w, http.StatusBadRequest, "item is for approve only")
		return
	}
	rec, err := engine.Control(r.Context(), a.cfg.Store, name, req, engine.Actor{Agent: a.cfg.Holder, Who: req.By})
	var ce *engine.ControlError
	switch {
	case errors.Is(err, engine.ErrNoPlan):
		controlError(w, http.StatusNotFound, err.Error())
		return
	case errors.As(err, &ce):
		controlError(w, http.StatusConflict, err.Error())
		return
	case err != nil:
		a.log.Warn("runtime control not journaled", "plan", name, "action", action, "err", err)
		controlError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	a.log.Info("runtime control journaled", "plan", name, "action", action, "item", req.Item, "by", rec.Details["by"], "reason", rec.Details["reason"], "seq", rec.Seq)
	a.Trigger() // the leader acts on it at the plan's next step boundary
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ControlResult{Plan: name, Action: action, Seq: rec.Seq, Time: rec.Time,
		Message: engine.ControlText(rec) + "; journaled: it takes effect at the plan's next step boundary"})
}

func controlError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// tokenOK compares the request's bearer token with want in constant time
// (of hashes: the length does not leak either).
func tokenOK(r *http.Request, want string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || got == "" {
		return false
	}
	g, h := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], h[:]) == 1
}

// crossSite says why a request comes from another site ("" when it does
// not): a browser sends Sec-Fetch-Site and, on a POST, Origin; the
// status page's own requests are same-origin. The CLI sends neither.
func crossSite(r *http.Request) string {
	switch s := r.Header.Get("Sec-Fetch-Site"); s {
	case "", "same-origin", "none":
	default:
		return "Sec-Fetch-Site: " + s
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return "Origin " + o + " is not this agent (" + r.Host + ")"
		}
	}
	return ""
}

// controlled: a runtime control reached p's journal after the last
// apply ended (seq), so a plan left alone (a gate, a pause) is applied
// again.
func (a *Agent) controlled(ctx context.Context, st *planState) bool {
	if st.seenSeq == 0 {
		return false
	}
	recs, err := a.cfg.Store.Records(ctx, st.Name, st.seenSeq)
	if err != nil {
		a.log.Warn("read the journal for runtime controls", "plan", st.Name, "err", err)
		return false
	}
	for _, r := range recs {
		if engine.ControlText(r) != "" {
			return true
		}
	}
	return false
}
