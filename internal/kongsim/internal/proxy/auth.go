package proxy

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/kong/go-kong/kong"
)

// Key-auth messages (kong/plugins/key-auth/handler.lua at each tag).
const (
	msgNoAPIKey        = "No API key found in request"
	msgDuplicateKey    = "Duplicate API key found"
	msgInvalidCred35   = "Invalid authentication credentials" // 2.8 - 3.5
	msgInvalidCred36   = "Unauthorized"                       // 3.6+
	msgUnauthorized    = "Unauthorized"                       // kong.response.error(401) default
	msgCannotConsume   = "You cannot consume this service"
	headerConsumerID   = "X-Consumer-Id"
	headerConsumerCID  = "X-Consumer-Custom-Id"
	headerConsumerUser = "X-Consumer-Username"
	headerCredential   = "X-Credential-Identifier"
	headerAnonymous    = "X-Anonymous-Consumer"
)

func cfgBool(c kong.Configuration, k string, def bool) bool {
	if b, ok := c[k].(bool); ok {
		return b
	}
	return def
}

func cfgString(c kong.Configuration, k string) (string, bool) {
	s, ok := c[k].(string)
	return s, ok
}

func cfgStrings(c kong.Configuration, k string) []string {
	var out []string
	switch l := c[k].(type) {
	case []any:
		for _, e := range l {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
	case []string:
		out = l
	}
	return out
}

// keyAuth runs key-auth's access phase. Without anonymous it is "logical
// AND" (a failure answers 401); with anonymous a failure continues as the
// anonymous consumer.
func (h *Handler) keyAuth(w http.ResponseWriter, rc *reqCtx, conf kong.Configuration) bool {
	if !cfgBool(conf, "run_on_preflight", true) && rc.req.Method == http.MethodOptions {
		return true
	}
	anon, hasAnon := cfgString(conf, "anonymous")
	hasAnon = hasAnon && anon != ""
	if hasAnon && rc.cred != nil {
		return true
	}
	status, msg, hdr := h.keyAuthenticate(rc, conf)
	if status == 0 {
		return true
	}
	if hasAnon {
		c := rc.st.consumers[anon]
		if c == nil {
			// Kong looks the anonymous consumer up by id and errors when it is missing.
			for _, cc := range rc.st.consumers {
				if cc.Username != nil && *cc.Username == anon {
					c = cc
				}
			}
		}
		if c == nil {
			h.log.Error("key-auth: anonymous consumer not found", "anonymous", anon)
			rc.kongResponse(w, http.StatusInternalServerError, msgUnexpected, nil)
			return false
		}
		rc.setConsumer(c, nil)
		// Up to 3.6 the missing-key branch sets WWW-Authenticate on the
		// response before failing (kong.response.set_header), so an
		// anonymous request's proxied response carries it.
		if !rc.v.AtLeast(3, 7, 0) && msg == msgNoAPIKey {
			for k, vs := range hdr {
				rc.respHeaders[k] = vs
			}
		}
		return true
	}
	rc.kongResponse(w, status, msg, hdr)
	return false
}

// keyAuthenticate looks for the key; status 0 means authenticated.
func (h *Handler) keyAuthenticate(rc *reqCtx, conf kong.Configuration) (int, string, http.Header) {
	v := rc.v
	realm, hasRealm := cfgString(conf, "realm")
	www := func(missing bool) http.Header {
		switch {
		case v.AtLeast(3, 7, 0) && hasRealm:
			return http.Header{"Www-Authenticate": {`Key realm="` + realm + `"`}}
		case v.AtLeast(3, 7, 0):
			return http.Header{"Www-Authenticate": {"Key"}}
		case missing:
			return http.Header{"Www-Authenticate": {`Key realm="kong"`}}
		}
		return nil
	}
	r := rc.req
	query := r.URL.Query()
	var body map[string]any
	bodyLoaded := false
	loadBody := func() map[string]any {
		if bodyLoaded {
			return body
		}
		bodyLoaded = true
		body = readBody(r)
		return body
	}
	key := ""
	for _, name := range cfgStrings(conf, "key_names") {
		var vals []string
		if cfgBool(conf, "key_in_header", true) {
			vals = r.Header.Values(name)
		}
		if len(vals) == 0 && cfgBool(conf, "key_in_query", true) {
			vals = query[name]
		}
		if len(vals) == 0 && cfgBool(conf, "key_in_body", false) {
			if s, ok := loadBody()[name].(string); ok {
				vals = []string{s}
			}
		}
		if len(vals) > 1 {
			return http.StatusUnauthorized, msgDuplicateKey, www(false)
		}
		if len(vals) == 1 {
			key = vals[0]
			if cfgBool(conf, "hide_credentials", false) {
				rc.clearHeaders = append(rc.clearHeaders, name)
				rc.clearQuery = append(rc.clearQuery, name)
			}
			break
		}
	}
	if key == "" {
		return http.StatusUnauthorized, msgNoAPIKey, www(true)
	}
	creds := rc.st.keys[key]
	if len(creds) == 0 {
		msg := msgInvalidCred35
		if v.AtLeast(3, 6, 0) {
			msg = msgInvalidCred36
		}
		return http.StatusUnauthorized, msg, www(false)
	}
	cred := creds[0]
	var c *kong.Consumer
	if cred.Consumer != nil {
		c = rc.st.consumers[idOf(cred.Consumer.ID)]
	}
	if c == nil {
		h.log.Error("key-auth: credential's consumer not found", "credential", idOf(cred.ID))
		return http.StatusInternalServerError, msgUnexpected, nil
	}
	rc.setConsumer(c, cred)
	return 0, "", nil
}

// setConsumer is kong.client.authenticate plus the consumer headers
// key-auth's set_consumer sends upstream.
func (rc *reqCtx) setConsumer(c *kong.Consumer, cred *kong.KeyAuth) {
	rc.consumer, rc.cred = c, cred
	set := func(k string, v *string) {
		if v != nil && *v != "" {
			rc.setHeaders.Set(k, *v)
		} else {
			rc.setHeaders.Del(k)
			rc.clearHeaders = append(rc.clearHeaders, k)
		}
	}
	set(headerConsumerID, c.ID)
	set(headerConsumerCID, c.CustomID)
	set(headerConsumerUser, c.Username)
	if cred != nil {
		set(headerCredential, cred.ID)
		rc.clearHeaders = append(rc.clearHeaders, headerAnonymous)
	} else {
		set(headerCredential, nil)
		rc.setHeaders.Set(headerAnonymous, "true")
	}
}

// readBody parses a JSON or form body (kong.request.get_body) and restores
// it for forwarding.
func readBody(r *http.Request) map[string]any {
	if r.Body == nil {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	ct := r.Header.Get("Content-Type")
	out := map[string]any{}
	switch {
	case strings.Contains(ct, "application/json"):
		_ = json.Unmarshal(b, &out)
	case strings.Contains(ct, "application/x-www-form-urlencoded"):
		vals, _ := url.ParseQuery(string(b))
		for k, v := range vals {
			if len(v) == 1 {
				out[k] = v[0]
			} else {
				out[k] = v
			}
		}
	}
	return out
}

// acl runs the acl plugin's access phase (kong/plugins/acl/handler.lua):
// allow or deny lists against the consumer's ACL groups; 2.8's
// whitelist/blacklist are read as allow/deny.
func (h *Handler) acl(w http.ResponseWriter, rc *reqCtx, conf kong.Configuration) bool {
	deny := cfgStrings(conf, "deny")
	allow := cfgStrings(conf, "allow")
	if rc.v.Major < 3 {
		if len(deny) == 0 {
			deny = cfgStrings(conf, "blacklist")
		}
		if len(allow) == 0 {
			allow = cfgStrings(conf, "whitelist")
		}
	}
	isDeny := len(deny) > 0
	list := allow
	if isDeny {
		list = deny
	}
	hide := cfgBool(conf, "hide_groups_header", false)
	if rc.consumer == nil {
		if rc.cred != nil {
			rc.kongResponse(w, http.StatusForbidden, msgCannotConsume, nil)
		} else {
			rc.kongResponse(w, http.StatusUnauthorized, msgUnauthorized, nil)
		}
		return false
	}
	groups := rc.st.groups[idOf(rc.consumer.ID)]
	if len(groups) == 0 && !isDeny {
		if rc.cred != nil {
			rc.kongResponse(w, http.StatusForbidden, msgCannotConsume, nil)
		} else {
			rc.kongResponse(w, http.StatusUnauthorized, msgUnauthorized, nil)
		}
		return false
	}
	in := false
	for _, g := range groups {
		for _, l := range list {
			if g == l {
				in = true
			}
		}
	}
	blocked := !in
	if isDeny {
		blocked = in
	}
	if blocked {
		rc.kongResponse(w, http.StatusForbidden, msgCannotConsume, nil)
		return false
	}
	if !hide {
		rc.setHeaders.Set("X-Consumer-Groups", strings.Join(groups, ", "))
	}
	return true
}
