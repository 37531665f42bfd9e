package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// Error templates of kong.response.error (kong@3.4.0 kong/tools/utils.lua,
// kong@3.5.0+ kong/tools/http.lua ERROR_TEMPLATES): from 3.5 every body
// carries the request id.
const (
	tmplJSON34  = "{\n  \"message\":\"%s\"\n}"
	tmplJSON35  = "{\n  \"message\":\"%s\",\n  \"request_id\":\"%s\"\n}"
	tmplPlain34 = "%s\n"
	tmplPlain35 = "%s\nrequest_id: %s\n"
	tmplHTML34  = "<!doctype html>\n<html>\n  <head>\n    <meta charset=\"utf-8\">\n    <title>Error</title>\n  </head>\n  <body>\n    <h1>Error</h1>\n    <p>%s.</p>\n  </body>\n</html>\n"
	tmplHTML35  = "<!doctype html>\n<html>\n  <head>\n    <meta charset=\"utf-8\">\n    <title>Error</title>\n  </head>\n  <body>\n    <h1>Error</h1>\n    <p>%s.</p>\n    <p>request_id: %s</p>\n  </body>\n</html>\n"
	tmplXML34   = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error>\n  <message>%s</message>\n</error>\n"
	tmplXML35   = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error>\n  <message>%s</message>\n  <requestid>%s</requestid>\n</error>\n"
)

// Kong's messages for errors it generates (kong/error_handlers.lua BODIES).
const (
	msgNoRoute    = "no Route matched with those values"
	msgUnexpected = "An unexpected error occurred"
	msgBadGateway = "An invalid response was received from the upstream server"
	msgUnavail    = "The upstream server is currently unavailable"
	msgTimeout    = "The upstream server is timing out"
	msgNameRes    = "name resolution failed"
)

// responseType picks the error format from Accept as
// kong.tools.http.get_response_type does: the highest-q media type Kong
// knows (application/json, text/html, application/xml, text/plain;
// application/* as JSON, text/* as plain, */* as the default), JSON by
// default.
func responseType(accept string) string {
	best, bestQ := "json", -1.0
	if strings.TrimSpace(accept) == "" {
		return best
	}
	for _, part := range strings.Split(accept, ",") {
		fields := strings.Split(strings.TrimSpace(part), ";")
		mt := strings.ToLower(strings.TrimSpace(fields[0]))
		q := 1.0
		for _, p := range fields[1:] {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.TrimSpace(k) == "q" {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		var kind string
		switch {
		case mt == "application/json":
			kind = "json"
		case mt == "text/html":
			kind = "html"
		case mt == "application/xml":
			kind = "xml"
		case mt == "text/plain":
			kind = "plain"
		case strings.HasPrefix(mt, "application/"):
			kind = "json"
		case strings.HasPrefix(mt, "text/"):
			kind = "plain"
		case mt == "*/*":
			kind = "json"
		default:
			continue
		}
		if q > bestQ {
			best, bestQ = kind, q
		}
	}
	return best
}

// errorBody renders kong.response.error's body and Content-Type.
func errorBody(v kongrelease.Version, accept, msg, requestID string) (body, contentType string) {
	v35 := v.AtLeast(3, 5, 0)
	pick := func(old, new string) string {
		if v35 {
			return fmt.Sprintf(new, msg, requestID)
		}
		return fmt.Sprintf(old, msg)
	}
	switch responseType(accept) {
	case "html":
		return pick(tmplHTML34, tmplHTML35), "text/html; charset=utf-8"
	case "xml":
		return pick(tmplXML34, tmplXML35), "application/xml; charset=utf-8"
	case "plain":
		return pick(tmplPlain34, tmplPlain35), "text/plain; charset=utf-8"
	}
	return pick(tmplJSON34, tmplJSON35), "application/json; charset=utf-8"
}

// serverToken is Kong's server token ("kong/3.9.1").
func serverToken(v kongrelease.Version) string { return "kong/" + v.String() }

// viaValue is the Via value Kong adds: "kong/X" up to 3.7, the RFC form
// "1.1 kong/X" from 3.8 (CL L526-528).
func viaValue(v kongrelease.Version) string {
	if v.AtLeast(3, 8, 0) {
		return "1.1 " + serverToken(v)
	}
	return serverToken(v)
}

// newRequestID returns a request id like nginx's $request_id (32 hex).
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ms is a latency header value in whole milliseconds.
func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// kongResponse writes a response Kong generated itself (an error or a
// plugin's exit), with the headers of header_filter for Kong-generated
// responses: X-Kong-Response-Latency, Server, and X-Kong-Request-Id from 3.5.
func (rc *reqCtx) kongResponse(w http.ResponseWriter, status int, msg string, extra http.Header) {
	body, ct := errorBody(rc.v, rc.req.Header.Get("Accept"), msg, rc.requestID)
	h := w.Header()
	for k, vs := range extra {
		h[k] = vs
	}
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Kong-Response-Latency", ms(time.Since(rc.start)))
	h.Set("Server", serverToken(rc.v))
	if rc.requestID != "" {
		h.Set("X-Kong-Request-Id", rc.requestID)
	}
	w.WriteHeader(status)
	if rc.req.Method != http.MethodHead {
		_, _ = w.Write([]byte(body))
	}
	rc.status, rc.fromUpstream, rc.bytesOut = status, false, int64(len(body))
}

// kongExit is kong.response.exit(status) without a body, with the
// Kong-generated response headers.
func (rc *reqCtx) kongExit(w http.ResponseWriter, status int) {
	h := w.Header()
	h.Set("Content-Length", "0")
	h.Set("X-Kong-Response-Latency", ms(time.Since(rc.start)))
	h.Set("Server", serverToken(rc.v))
	if rc.requestID != "" {
		h.Set("X-Kong-Request-Id", rc.requestID)
	}
	w.WriteHeader(status)
	rc.status, rc.fromUpstream = status, false
}
