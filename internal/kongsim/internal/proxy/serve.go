package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/kongsim/internal/prom"
)

// reqCtx is one request's state through the phases.
type reqCtx struct {
	v         kongrelease.Version
	req       *http.Request
	start     time.Time
	requestID string
	st        *state
	m         *matcher
	matched   string // the part of the path the route matched
	consumer  *kong.Consumer
	cred      *kong.KeyAuth
	// upstream request header changes made by plugins
	setHeaders   http.Header
	clearHeaders []string
	clearQuery   []string
	// response headers plugins add to proxied responses (rate-limiting)
	respHeaders http.Header

	status       int
	fromUpstream bool
	bytesOut     int64
	upstreamMs   float64
	kongMs       float64
}

// connectTimeoutKey carries a service's connect_timeout to the dialer.
type connectTimeoutKey struct{}

func newTransport() http.RoundTripper {
	return &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: 60 * time.Second}
			if t, ok := ctx.Value(connectTimeoutKey{}).(time.Duration); ok && t > 0 {
				d.Timeout = t
			}
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       60 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}
}

// ServeHTTP runs one request through Kong's phases: rewrite/access (router,
// then the plugins by priority), the upstream call, header_filter and log.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc := &reqCtx{v: h.opts.Version, req: r, start: time.Now(), setHeaders: http.Header{}, respHeaders: http.Header{}}
	if rc.v.AtLeast(3, 5, 0) {
		rc.requestID = newRequestID()
	}
	defer h.logPhase(rc)
	st, err := h.current(r.Context())
	if err != nil {
		rc.kongResponse(w, http.StatusInternalServerError, msgUnexpected, nil)
		return
	}
	rc.st = st
	rc.m, rc.matched = match(st.matchers, r)
	if rc.m == nil {
		rc.kongResponse(w, http.StatusNotFound, msgNoRoute, nil)
		return
	}
	if h.httpsOnly(w, rc) {
		return
	}
	if !h.access(w, rc) {
		return
	}
	if h.opts.RoutedFault != nil {
		if code := h.opts.RoutedFault(r); code != 0 {
			rc.kongResponse(w, code, msgUnexpected, nil)
			return
		}
	}
	h.forward(w, rc)
}

// httpsOnly answers a plain-HTTP request to a route whose protocols are
// https only: 426 "Please use HTTPS protocol" with Upgrade headers, or the
// route's https_redirect_status_code (301/302/307/308) to the https URL
// (kong/runloop/handler.lua access phase). With Kong's default
// trusted_ips (none), a client's X-Forwarded-Proto/Host are ignored.
func (h *Handler) httpsOnly(w http.ResponseWriter, rc *reqCtx) bool {
	r := rc.req
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	hasHTTP, hasHTTPS := false, false
	for _, p := range rc.m.route.Protocols {
		if p != nil {
			hasHTTP = hasHTTP || *p == "http"
			hasHTTPS = hasHTTPS || *p == "https"
		}
	}
	if !hasHTTPS || hasHTTP || proto == "https" {
		return false
	}
	code := 426
	if rc.m.route.HTTPSRedirectStatusCode != nil {
		code = *rc.m.route.HTTPSRedirectStatusCode
	}
	switch code {
	case 426:
		rc.kongResponse(w, 426, "Please use HTTPS protocol", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"TLS/1.2, HTTP/1.1"}})
		return true
	case 301, 302, 307, 308:
		w.Header().Set("Location", "https://"+r.Host+r.URL.RequestURI())
		rc.kongExit(w, code)
		return true
	}
	return false
}

// access runs the access phase of the emulated plugins in Kong's priority
// order (key-auth 1250/1003, acl 950, rate-limiting 910/901). It returns
// false when a plugin answered the request.
func (h *Handler) access(w http.ResponseWriter, rc *reqCtx) bool {
	if p := rc.plugin("key-auth"); p != nil {
		if !h.keyAuth(w, rc, p.Config) {
			return false
		}
	}
	if p := rc.plugin("acl"); p != nil {
		if !h.acl(w, rc, p.Config) {
			return false
		}
	}
	if p := rc.plugin("rate-limiting"); p != nil {
		if !h.rateLimit(w, rc, p) {
			return false
		}
	}
	return true
}

// plugin returns the configuration of a plugin that applies to this request.
func (rc *reqCtx) plugin(name string) *kong.Plugin {
	routeID := idOf(rc.m.route.ID)
	serviceID := ""
	if rc.m.service != nil {
		serviceID = idOf(rc.m.service.ID)
	}
	consumerID := ""
	if rc.consumer != nil {
		consumerID = idOf(rc.consumer.ID)
	}
	return rc.st.pluginFor(name, routeID, serviceID, consumerID)
}

// upstreamPath joins the service path and the request path as Kong's
// path_handling "v0" does (the default; "v1" is ignored by the 3.x
// traditional_compatible router): strip_path removes the matched part.
func upstreamPath(servicePath, reqPath, matched string, strip bool) string {
	rest := reqPath
	if strip && matched != "" {
		rest = strings.TrimPrefix(reqPath, matched)
		if !strings.HasPrefix(rest, "/") {
			rest = "/" + rest
		}
	}
	if servicePath == "" || servicePath == "/" {
		return rest
	}
	if rest == "/" {
		return servicePath
	}
	if strings.HasSuffix(servicePath, "/") {
		return servicePath + strings.TrimPrefix(rest, "/")
	}
	return servicePath + rest
}

// forward proxies the request to the route's service.
func (h *Handler) forward(w http.ResponseWriter, rc *reqCtx) {
	r := rc.req
	svc := rc.m.service
	if svc == nil || svc.Host == nil {
		h.log.Error("proxy: route has no service", "route", routeLabel(rc.m.route))
		rc.kongResponse(w, http.StatusServiceUnavailable, msgUnavail, nil)
		return
	}
	scheme := "http"
	if svc.Protocol != nil && (*svc.Protocol == "https" || *svc.Protocol == "grpcs") {
		scheme = "https"
	}
	port := 80
	if scheme == "https" {
		port = 443
	}
	if svc.Port != nil {
		port = *svc.Port
	}
	strip := true
	if rc.m.route.StripPath != nil {
		strip = *rc.m.route.StripPath
	}
	svcPath := ""
	if svc.Path != nil {
		svcPath = *svc.Path
	}
	q := r.URL.Query()
	for _, k := range rc.clearQuery {
		q.Del(k)
	}
	target := &url.URL{Scheme: scheme, Host: net.JoinHostPort(*svc.Host, strconv.Itoa(port)),
		Path: upstreamPath(svcPath, r.URL.Path, rc.matched, strip), RawQuery: q.Encode()}
	if len(rc.clearQuery) == 0 {
		target.RawQuery = r.URL.RawQuery
	}
	// read_timeout bounds the wait for the response headers (nginx
	// proxy_read_timeout between reads is approximated by this one wait;
	// write_timeout is not emulated).
	timeout := 60 * time.Second
	if svc.ReadTimeout != nil && *svc.ReadTimeout > 0 {
		timeout = time.Duration(*svc.ReadTimeout) * time.Millisecond
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var timedOut atomic.Bool
	timer := time.AfterFunc(timeout, func() { timedOut.Store(true); cancel() })
	if svc.ConnectTimeout != nil {
		ctx = context.WithValue(ctx, connectTimeoutKey{}, time.Duration(*svc.ConnectTimeout)*time.Millisecond)
	}
	out, err := http.NewRequestWithContext(ctx, r.Method, target.String(), r.Body)
	if err != nil {
		rc.kongResponse(w, http.StatusInternalServerError, msgUnexpected, nil)
		return
	}
	out.ContentLength = r.ContentLength
	out.Header = r.Header.Clone()
	for _, k := range hopHeaders {
		out.Header.Del(k)
	}
	for _, k := range rc.clearHeaders {
		out.Header.Del(k)
	}
	for k, vs := range rc.setHeaders {
		out.Header[k] = vs
	}
	h.setUpstreamHeaders(out, rc, scheme, *svc.Host, port)
	rc.kongMs = float64(time.Since(rc.start).Microseconds()) / 1000
	upStart := time.Now()
	resp, err := h.rt.RoundTrip(out)
	timer.Stop()
	if err != nil {
		if timedOut.Load() {
			err = fmt.Errorf("read_timeout %v: %w", timeout, context.DeadlineExceeded)
		}
		h.upstreamError(w, rc, err)
		return
	}
	defer resp.Body.Close()
	upLatency := time.Since(upStart)
	rc.upstreamMs = float64(upLatency.Microseconds()) / 1000
	hdr := w.Header()
	for k, vs := range resp.Header {
		hdr[k] = vs
	}
	for _, k := range hopHeaders {
		hdr.Del(k)
	}
	for k, vs := range rc.respHeaders {
		hdr[k] = vs
	}
	// header_filter for proxied responses (kong/runloop/handler.lua).
	hdr.Set("X-Kong-Upstream-Latency", ms(upLatency))
	hdr.Set("X-Kong-Proxy-Latency", strconv.FormatInt(int64(rc.kongMs), 10))
	if rc.v.AtLeast(3, 8, 0) {
		if prev := resp.Header.Values("Via"); len(prev) > 0 {
			hdr.Set("Via", strings.Join(prev, ", ")+", "+viaValue(rc.v))
		} else {
			hdr.Set("Via", viaValue(rc.v))
		}
	} else {
		hdr.Set("Via", viaValue(rc.v))
	}
	if resp.Header.Get("Server") == "" {
		hdr.Set("Server", serverToken(rc.v))
	}
	if rc.requestID != "" {
		hdr.Set("X-Kong-Request-Id", rc.requestID)
	}
	w.WriteHeader(resp.StatusCode)
	n, _ := io.Copy(w, resp.Body)
	rc.status, rc.fromUpstream, rc.bytesOut = resp.StatusCode, true, n
}

// hopHeaders are not forwarded (RFC 9110 §7.6.1).
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// setUpstreamHeaders sets Host and the X-Forwarded-* / X-Real-IP headers
// Kong's nginx template sends upstream, X-Kong-Request-Id from 3.5
// (headers_upstream) and Via from 3.8.
func (h *Handler) setUpstreamHeaders(out *http.Request, rc *reqCtx, scheme, svcHost string, port int) {
	r := rc.req
	preserve := rc.m.route.PreserveHost != nil && *rc.m.route.PreserveHost
	if preserve {
		out.Host = r.Host
	} else if (scheme == "http" && port == 80) || (scheme == "https" && port == 443) {
		out.Host = svcHost
	} else {
		out.Host = net.JoinHostPort(svcHost, strconv.Itoa(port))
	}
	clientIP, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		clientIP = r.RemoteAddr
	}
	if prior := r.Header.Get("X-Forwarded-For"); prior != "" {
		out.Header.Set("X-Forwarded-For", prior+", "+clientIP)
	} else {
		out.Header.Set("X-Forwarded-For", clientIP)
	}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	host, lport := r.Host, "80"
	if hh, pp, err := net.SplitHostPort(r.Host); err == nil {
		host, lport = hh, pp
	} else if r.TLS != nil {
		lport = "443"
	}
	out.Header.Set("X-Forwarded-Proto", proto)
	out.Header.Set("X-Forwarded-Host", host)
	out.Header.Set("X-Forwarded-Port", lport)
	out.Header.Set("X-Forwarded-Path", r.URL.Path)
	if rc.matched != "" && (rc.m.route.StripPath == nil || *rc.m.route.StripPath) && rc.matched != "/" {
		out.Header.Set("X-Forwarded-Prefix", strings.TrimSuffix(rc.matched, "/"))
	}
	out.Header.Set("X-Real-IP", clientIP)
	if rc.requestID != "" {
		out.Header.Set("X-Kong-Request-Id", rc.requestID)
	}
	if rc.v.AtLeast(3, 8, 0) {
		if prev := r.Header.Get("Via"); prev != "" {
			out.Header.Set("Via", prev+", "+viaValue(rc.v))
		} else {
			out.Header.Set("Via", viaValue(rc.v))
		}
	}
}

// upstreamError answers as nginx's proxy module and Kong's error handler do
// when the upstream fails: a timeout is 504, a failed DNS lookup 503 "name
// resolution failed" (Kong's balancer), anything else (refused, reset,
// invalid response) 502.
func (h *Handler) upstreamError(w http.ResponseWriter, rc *reqCtx, err error) {
	var dnsErr *net.DNSError
	var ne net.Error
	switch {
	case errors.As(err, &dnsErr):
		h.log.Error("proxy: upstream name resolution failed", "err", err)
		rc.kongResponse(w, http.StatusServiceUnavailable, msgNameRes, nil)
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		h.log.Error("proxy: upstream timed out", "err", err)
		rc.kongResponse(w, http.StatusGatewayTimeout, msgTimeout, nil)
	default:
		h.log.Error("proxy: upstream failed", "err", err)
		rc.kongResponse(w, http.StatusBadGateway, msgBadGateway, nil)
	}
}

// logPhase feeds the prometheus plugin when one applies to the request.
func (h *Handler) logPhase(rc *reqCtx) {
	if h.opts.Metrics == nil || rc.st == nil || rc.status == 0 {
		return
	}
	var p *kong.Plugin
	if rc.m != nil {
		p = rc.plugin("prometheus")
	} else {
		p = rc.st.pluginFor("prometheus", "", "", "")
	}
	if p == nil {
		return
	}
	o := prom.Observation{Code: rc.status, FromUpstream: rc.fromUpstream,
		KongMs: rc.kongMs, UpstreamMs: -1, RequestMs: float64(time.Since(rc.start).Microseconds()) / 1000,
		BytesIngress: requestSize(rc.req), BytesEgress: rc.bytesOut}
	if rc.fromUpstream {
		o.UpstreamMs = rc.upstreamMs
	} else {
		o.KongMs = o.RequestMs
	}
	if rc.m != nil {
		o.Route = nameOr(rc.m.route.Name, rc.m.route.ID)
		if rc.m.service != nil {
			o.Service = nameOr(rc.m.service.Name, rc.m.service.Host)
		}
	}
	if rc.consumer != nil && rc.consumer.Username != nil {
		o.Consumer = *rc.consumer.Username
	}
	cfg := p.Config
	flag := func(k string) bool { b, _ := cfg[k].(bool); return b }
	if rc.v.Major < 3 {
		o.Flags = prom.Flags{StatusCode: true, Latency: true, Bandwidth: true, PerConsumer: flag("per_consumer")}
	} else {
		o.Flags = prom.Flags{StatusCode: flag("status_code_metrics"), Latency: flag("latency_metrics"),
			Bandwidth: flag("bandwidth_metrics"), UpstreamHealth: flag("upstream_health_metrics"), PerConsumer: flag("per_consumer")}
	}
	h.opts.Metrics.Observe(o)
}

func nameOr(a, b *string) string {
	if a != nil && *a != "" {
		return *a
	}
	return idOf(b)
}

// requestSize approximates nginx's $request_length: request line, headers
// and body.
func requestSize(r *http.Request) int64 {
	n := int64(len(r.Method) + len(r.URL.RequestURI()) + len(r.Proto) + 4)
	for k, vs := range r.Header {
		for _, v := range vs {
			n += int64(len(k) + len(v) + 4)
		}
	}
	if r.ContentLength > 0 {
		n += r.ContentLength
	}
	return n + 2
}
