package graphsim

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
)

// ErrDropped is what Transport returns when graphsim drops the connection.
var ErrDropped = errors.New("graphsim: connection dropped by the server")

// Transport returns an http.RoundTripper that serves requests in memory,
// without a socket. It suits testing/synctest, where real network I/O does
// not count as durably blocked. A dropped connection comes back as
// ErrDropped; a request whose context ends while the server holds the
// response comes back as the context's error.
func (s *Server) Transport() http.RoundTripper { return memTransport{h: s} }

type memTransport struct{ h http.Handler }

func (t memTransport) RoundTrip(req *http.Request) (res *http.Response, err error) {
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	if in.Body == nil {
		in.Body = http.NoBody
	}
	defer func() {
		if req.Body != nil {
			_ = req.Body.Close()
		}
	}()
	w := &memWriter{header: http.Header{}}
	if dropped := serveRecovering(t.h, w, in); dropped {
		return nil, ErrDropped
	}
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.header.Set("Content-Length", strconv.Itoa(w.body.Len()))
	return &http.Response{
		Status:        strconv.Itoa(w.status) + " " + http.StatusText(w.status),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.header,
		Body:          io.NopCloser(bytes.NewReader(w.body.Bytes())),
		ContentLength: int64(w.body.Len()),
		Request:       req,
	}, nil
}

// serveRecovering runs the handler and turns http.ErrAbortHandler (how
// graphsim drops a connection it cannot hijack) into a flag.
func serveRecovering(h http.Handler, w http.ResponseWriter, r *http.Request) (dropped bool) {
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				panic(p)
			}
			dropped = true
		}
	}()
	h.ServeHTTP(w, r)
	return false
}

type memWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *memWriter) Header() http.Header { return w.header }

func (w *memWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *memWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}
