package kongsim

import (
	"maps"
	"net/http"
	"net/url"
	"strings"

	"github.com/upshift-dev/upshift/internal/kongsim/internal/plugins"
	"github.com/upshift-dev/upshift/internal/kongsim/internal/store"
)

// enterpriseOnly are Admin API collections that only Kong Enterprise
// serves; open-source Kong answers 404 {"message":"Not found"} for them.
var enterpriseOnly = map[string]bool{
	"consumer_groups": true, "mtls-auths": true, "partials": true, "workspaces": true, "rbac": true,
	"licenses": true, "filter-chains": true, "vitals": true, "admins": true, "event-hooks": true,
	"keyring": true, "developers": true, "files": true, "degraphql_routes": true, "graphql_ratelimiting_advanced_cost_decoration": true,
}

// admin serves the Admin API (K: kong/api/routes/*.lua, kong/api/endpoints.lua).
func (n *Node) admin(w http.ResponseWriter, r *http.Request) {
	if n.faults.intercept(w, r, "admin") {
		return
	}
	if !bodyAllowed(r) {
		w.WriteHeader(http.StatusUnsupportedMediaType) // kong.response.exit(415): no body
		return
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if path == "" {
		segs = nil
	}
	for i, s := range segs {
		if u, err := url.PathUnescape(s); err == nil {
			segs[i] = u
		}
	}
	switch {
	case len(segs) == 0:
		n.only(w, r, n.root, http.MethodGet)
	case segs[0] == "status" && len(segs) == 1:
		n.only(w, r, n.status, http.MethodGet)
	case segs[0] == "metrics" && len(segs) == 1:
		n.only(w, r, n.metricsHandler, http.MethodGet)
	case segs[0] == "config" && len(segs) == 1:
		n.config(w, r)
	case segs[0] == "schemas":
		n.schemas(w, r, segs[1:])
	case segs[0] == "plugins" && len(segs) == 2 && segs[1] == "enabled":
		n.only(w, r, n.pluginsEnabled, http.MethodGet)
	case segs[0] == "clustering":
		n.clustering(w, r, segs[1:])
	case enterpriseOnly[segs[0]]:
		writeMessage(w, http.StatusNotFound, "Not found")
	default:
		n.entities(w, r, segs)
	}
}

func (n *Node) only(w http.ResponseWriter, r *http.Request, h http.HandlerFunc, methods ...string) {
	for _, m := range methods {
		if r.Method == m || (m == http.MethodGet && r.Method == http.MethodHead) {
			h(w, r)
			return
		}
	}
	if r.Method == http.MethodOptions {
		w.Header().Set("Allow", strings.Join(append(methods, "OPTIONS"), ", "))
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeMessage(w, http.StatusMethodNotAllowed, "Method not allowed")
}

// entities serves /<collection>[/<id>[/<nested>[/<id>]]].
func (n *Node) entities(w http.ResponseWriter, r *http.Request, segs []string) {
	ent := n.reg.ByPath(segs[0])
	if ent == nil || len(segs) > 4 {
		writeMessage(w, http.StatusNotFound, "Not found")
		return
	}
	ctx := r.Context()
	switch len(segs) {
	case 1:
		n.only(w, r, func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost {
				n.create(w, r, ent, nil)
				return
			}
			n.list(w, r, ent, nil, "/"+segs[0])
		}, http.MethodGet, http.MethodPost)
	case 2:
		n.only(w, r, func(w http.ResponseWriter, r *http.Request) {
			n.one(w, r, ent, segs[1], nil)
		}, http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete)
	default:
		parent, err := n.store.Lookup(ctx, ent, segs[1], nil)
		if err != nil {
			n.writeErr(w, err)
			return
		}
		// /routes/{id}/service: the entity a foreign key points to.
		if f := ent.Field(segs[2]); f != nil && f.Type == "foreign" && len(segs) == 3 {
			n.only(w, r, func(w http.ResponseWriter, r *http.Request) {
				if parent == nil || parent[f.Name] == nil {
					writeMessage(w, http.StatusNotFound, "Not found")
					return
				}
				n.one(w, r, n.reg.ByName(f.Reference), refIDOf(parent[f.Name]), nil)
			}, http.MethodGet)
			return
		}
		child, field := n.nested(ent, segs[2])
		if child == nil {
			writeMessage(w, http.StatusNotFound, "Not found")
			return
		}
		if parent == nil {
			writeMessage(w, http.StatusNotFound, "Not found")
			return
		}
		p := &store.Parent{Field: field, ID: parent["id"].(string)}
		if len(segs) == 3 {
			n.only(w, r, func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost {
					n.create(w, r, child, p)
					return
				}
				n.list(w, r, child, p, "/"+strings.Join(segs, "/"))
			}, http.MethodGet, http.MethodPost)
			return
		}
		n.only(w, r, func(w http.ResponseWriter, r *http.Request) {
			n.one(w, r, child, segs[3], p)
		}, http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete)
	}
}

// nested finds the child collection named name under parent entity ent and
// the child's foreign field that points at ent.
func (n *Node) nested(ent *store.Entity, name string) (*store.Entity, string) {
	for _, c := range n.reg.List {
		if c.NestedPath != name {
			continue
		}
		for _, f := range c.Foreign() {
			if f.Reference == ent.Name {
				return c, f.Name
			}
		}
	}
	return nil, ""
}

func refIDOf(v any) string {
	m, _ := v.(map[string]any)
	s, _ := m["id"].(string)
	return s
}

func (n *Node) create(w http.ResponseWriter, r *http.Request, ent *store.Entity, p *store.Parent) {
	a, ok := n.readArgs(w, r)
	if !ok {
		return
	}
	obj, err := n.store.Insert(r.Context(), ent, n.coerce(a, ent, nil), p)
	if err != nil {
		n.writeErr(w, err)
		return
	}
	n.changed()
	writeJSON(w, http.StatusCreated, n.forRead(ent, obj))
}

// forRead renders a stored entity as Kong's Admin API returns it: from 3.6
// a plugin's config carries its deprecated shorthand fields again
// (plugins.ForRead: rate-limiting's flat redis_* next to redis.*).
func (n *Node) forRead(ent *store.Entity, obj map[string]any) map[string]any {
	if ent.Name != "plugins" || obj == nil {
		return obj
	}
	cfg, _ := obj["config"].(map[string]any)
	name, _ := obj["name"].(string)
	if cfg == nil {
		return obj
	}
	out := maps.Clone(obj)
	out["config"] = plugins.ForRead(n.version, name, cfg)
	return out
}

func (n *Node) one(w http.ResponseWriter, r *http.Request, ent *store.Entity, key string, p *store.Parent) {
	ctx := r.Context()
	if r.Method == http.MethodPut {
		a, ok := n.readArgs(w, r)
		if !ok {
			return
		}
		obj, err := n.store.Upsert(ctx, ent, key, n.coerce(a, ent, nil), p)
		if err != nil {
			n.writeErr(w, err)
			return
		}
		n.changed()
		writeJSON(w, http.StatusOK, n.forRead(ent, obj))
		return
	}
	obj, err := n.store.Lookup(ctx, ent, key, p)
	if err != nil {
		n.writeErr(w, err)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if obj == nil {
			writeMessage(w, http.StatusNotFound, "Not found")
			return
		}
		writeJSON(w, http.StatusOK, n.forRead(ent, obj))
	case http.MethodDelete:
		if obj != nil {
			if err := n.store.DeleteBy(ctx, ent, key, obj); err != nil {
				n.writeErr(w, err)
				return
			}
			n.changed()
		}
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPatch:
		a, ok := n.readArgs(w, r)
		if !ok {
			return
		}
		if obj == nil {
			writeMessage(w, http.StatusNotFound, "Not found")
			return
		}
		out, err := n.store.Update(ctx, ent, key, obj, n.coerce(a, ent, obj))
		if err != nil {
			n.writeErr(w, err)
			return
		}
		n.changed()
		writeJSON(w, http.StatusOK, n.forRead(ent, out))
	}
}

// list serves a paginated collection: {"data":[...],"next":...,"offset":...}.
func (n *Node) list(w http.ResponseWriter, r *http.Request, ent *store.Entity, p *store.Parent, path string) {
	size, err := parseSize(r)
	if err != nil {
		n.writeErr(w, err)
		return
	}
	q := r.URL.Query()
	tags, anyTag := store.ParseTags(q.Get("tags"))
	pq := store.PageQuery{Size: size, Offset: q.Get("offset"), Tags: tags, AnyTag: anyTag, Parent: p}
	// Kong filters consumers by custom_id on the list endpoint.
	if ent.Name == "consumers" && q.Get("custom_id") != "" {
		cid := q.Get("custom_id")
		pq.Filter = func(o map[string]any) bool { return o["custom_id"] == cid }
	}
	rows, next, err := n.store.Page(r.Context(), ent, pq)
	if err != nil {
		n.writeErr(w, err)
		return
	}
	data := make([]any, len(rows))
	for i, row := range rows {
		data[i] = n.forRead(ent, row)
	}
	body := map[string]any{"data": data, "next": nil}
	if next != "" {
		// K: endpoints.lua get_collection_endpoint: top-level collections
		// carry tags then size; nested ones only the offset.
		nextURL := path + "?offset=" + url.QueryEscape(next)
		if p == nil {
			if t := q.Get("tags"); t != "" {
				nextURL += "&tags=" + url.QueryEscape(t)
			}
			if q.Get("size") != "" {
				nextURL += "&size=" + q.Get("size")
			}
		}
		body["offset"] = next
		body["next"] = nextURL
	}
	writeJSON(w, http.StatusOK, body)
}
