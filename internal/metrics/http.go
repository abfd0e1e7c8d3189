package metrics

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Path is where the endpoint serves the metrics.
const Path = "/metrics"

// Endpoint is the HTTP listener serving the metrics on Path.
type Endpoint struct {
	srv  *http.Server
	addr net.Addr
	done chan struct{}
}

// ListenAddress is the address metrics-address and metrics-port name:
// "" and "0.0.0.0" mean every interface.
func ListenAddress(host string, port int) string {
	if host == "0.0.0.0" {
		host = ""
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// Serve listens on addr (host:port) and serves the metrics there until
// Close.
func (m *Metrics) Serve(addr string) (*Endpoint, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(Path, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		MaxRequestsInFlight: 4, // a scrape reads every queue: no stampede
		Timeout:             30 * time.Second,
		// A metric that fails to collect leaves the others served.
		ErrorHandling: promhttp.ContinueOnError,
	}))
	e := &Endpoint{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		addr: l.Addr(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(e.done)
		_ = e.srv.Serve(l) // ends with http.ErrServerClosed at Close
	}()
	return e, nil
}

// Addr is the address the endpoint listens on.
func (e *Endpoint) Addr() net.Addr { return e.addr }

// URL is the metrics' URL.
func (e *Endpoint) URL() string { return "http://" + e.addr.String() + Path }

// Close stops the endpoint: scrapes in progress get a second to finish.
func (e *Endpoint) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		_ = e.srv.Close()
	}
	<-e.done
}
