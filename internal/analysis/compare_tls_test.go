package analysis

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCompareScrapesWithTheSidesTLSClient: a Status API on https with a
// certificate the system roots do not know is scraped with the side's
// client (MetricsSide.Clients); without it the scrape fails on x509.
func TestCompareScrapesWithTheSidesTLSClient(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Write([]byte("# TYPE kong_http_requests_total counter\nkong_http_requests_total{service=\"s\",route=\"r\",code=\"200\",source=\"service\",consumer=\"\"} 5\n"))
	}))
	t.Cleanup(srv.Close)
	margin := 0.01
	side := MetricsSide{URLs: []string{srv.URL + "/metrics"}, Version: "3.9.1", Clients: []*http.Client{srv.Client()}}
	c, err := NewCompare(CompareConfig{Name: "tls", From: side, To: side, ErrorRateMargin: &margin})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Begin(context.Background()); err != nil {
		t.Fatalf("with the side's client: %v", err)
	}
	plain := side
	plain.Clients = nil
	if c, err = NewCompare(CompareConfig{Name: "tls", From: side, To: plain, ErrorRateMargin: &margin}); err != nil {
		t.Fatal(err)
	}
	if err := c.Begin(context.Background()); err == nil || !strings.Contains(err.Error(), "x509") {
		t.Fatalf("without it: %v", err)
	}
}
