package kongsim

import (
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/upshift-dev/upshift/internal/kongsim/internal/store"
)

// config serves GET and POST /config (K: kong/api/routes/config.lua).
func (n *Node) config(w http.ResponseWriter, r *http.Request) {
	n.only(w, r, func(w http.ResponseWriter, r *http.Request) {
		if !n.dbless() {
			writeMessage(w, http.StatusBadRequest, "this endpoint is only available when Kong is configured to not use a database")
			return
		}
		if r.Method == http.MethodGet {
			b, err := n.store.Export(r.Context())
			if err != nil {
				n.writeErr(w, err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"config": string(b)})
			return
		}
		n.postConfig(w, r)
	}, http.MethodGet, http.MethodPost)
}

func truthy(s string) bool {
	switch strings.ToLower(s) {
	case "1", "true", "on", "yes":
		return true
	}
	return false
}

// configBody extracts the declarative config text: the "config" field of
// a JSON or form body, or the whole body (JSON with _format_version, YAML).
func configBody(r *http.Request) ([]byte, bool) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "multipart/form-data" || ct == "application/x-www-form-urlencoded" {
		if err := r.ParseMultipartForm(64 << 20); err != nil && ct == "multipart/form-data" {
			return nil, false
		}
		if ct == "application/x-www-form-urlencoded" {
			_ = r.ParseForm()
		}
		if v := r.PostForm.Get("config"); v != "" {
			return []byte(v), true
		}
		if r.MultipartForm != nil {
			if fh := r.MultipartForm.File["config"]; len(fh) > 0 {
				f, err := fh[0].Open()
				if err == nil {
					defer f.Close()
					b, err := io.ReadAll(f)
					return b, err == nil && len(b) > 0
				}
			}
		}
		return nil, false
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 256<<20))
	if err != nil || len(strings.TrimSpace(string(b))) == 0 {
		return nil, false
	}
	var m map[string]any
	if json.Unmarshal(b, &m) == nil {
		if c, ok := m["config"]; ok {
			switch c := c.(type) {
			case string:
				return []byte(c), true
			case map[string]any:
				out, _ := json.Marshal(c)
				return out, true
			}
		}
	}
	return b, true
}

func (n *Node) postConfig(w http.ResponseWriter, r *http.Request) {
	if rej, ok := n.faults.nextConfigReject(); ok {
		switch rej.code {
		case http.StatusTooManyRequests:
			if rej.retryAfter > 0 {
				w.Header().Set("Retry-After", itoa(rej.retryAfter))
			}
			writeMessage(w, rej.code, "Currently loading previous configuration")
		case http.StatusRequestEntityTooLarge:
			writeMessage(w, rej.code, "Configuration does not fit in LMDB database, consider raising the \"lmdb_map_size\" config for Kong")
		case http.StatusGatewayTimeout:
			writeMessage(w, rej.code, "Timed out while loading configuration")
		case http.StatusServiceUnavailable:
			writeMessage(w, rej.code, "Kong currently exiting")
		default:
			writeMessage(w, rej.code, "An unexpected error occurred")
		}
		return
	}
	q := r.URL.Query()
	text, ok := configBody(r)
	if !ok {
		writeMessage(w, http.StatusBadRequest, "expected a declarative configuration")
		return
	}
	parsed, err := store.ParseDeclarative(text)
	if err != nil || parsed == nil {
		msg := "failed parsing declarative configuration"
		if err != nil {
			msg += ": " + err.Error()
		}
		writeMessage(w, http.StatusBadRequest, msg)
		return
	}
	flatten := n.version.AtLeast(3, 2, 0) && truthy(q.Get("flatten_errors"))
	n.declMu.Lock()
	defer n.declMu.Unlock()
	d, err := n.store.LoadDeclarative(r.Context(), parsed, flatten)
	if err != nil {
		n.writeErr(w, err)
		return
	}
	if truthy(q.Get("check_hash")) && d.Hash == n.configHash() {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if n.faults.takeEmptyConfig() {
		empty, _ := n.store.LoadDeclarative(r.Context(), map[string]any{"_format_version": "3.0"}, false)
		n.install(empty)
	} else {
		n.install(d)
	}
	body := map[string]any{}
	for k, v := range d.Entities {
		body[k] = v
	}
	writeJSON(w, http.StatusCreated, body)
}

// exportJSON is the node's declarative config as JSON (what a control
// plane sends its data planes).
func (n *Node) exportJSON(ctx context.Context) ([]byte, error) {
	b, err := n.store.Export(ctx)
	if err != nil {
		return nil, err
	}
	return yaml.YAMLToJSON(b)
}
