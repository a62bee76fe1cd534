package dpdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// rpcConn is the OVSDB JSON-RPC 1.0 transport of RFC 7047 section 4, just
// what a one-shot client needs: one connection, requests ("transact",
// "echo") with integer ids, one request in flight at a time, responses
// matched by id. The server's own requests are answered ("echo", its
// inactivity probe) or ignored (notifications: nothing here monitors or
// locks, so none are expected).
//
// Each call sets the connection's deadline to its context's, and a context
// cancelled early moves it to the past, so a wedged server cannot hold a
// call beyond its context. A call that fails on the connection (an I/O
// error, a deadline, a malformed message) leaves the stream in an unknown
// state: the connection is closed and every later call fails with that
// error.
//
// Nothing reads between calls: a server's echo request waits for the next
// call to answer it. On unix sockets ovsdb-server sends none; on tcp it
// probes a client idle for its inactivity probe interval (5 s by default)
// and hangs up one that stays silent for another interval, so an *OVS
// left idle that long on tcp must be dialed again. (A CNI call is done in
// far less.)
type rpcConn struct {
	conn net.Conn
	dec  *json.Decoder

	// sem is held by the call in flight: a channel, not a mutex, so that
	// a call waiting for its turn still honours its context.
	sem chan struct{}
	// Guarded by sem.
	lastID uint64
	broken error
	// served counts the server's requests and notifications handled.
	served int

	closed    atomic.Bool
	closeOnce sync.Once
}

var errClosed = errors.New("connection closed")

func newRPCConn(c net.Conn) *rpcConn {
	return &rpcConn{conn: c, dec: json.NewDecoder(c), sem: make(chan struct{}, 1)}
}

// rpcRequest is a request, of ours or of the server's; rpcResponse a
// response. Both go over the wire as one JSON object each.
type rpcRequest struct {
	Method string `json:"method"`
	Params any    `json:"params"`
	ID     any    `json:"id"`
}

type rpcResponse struct {
	Result any `json:"result"`
	Error  any `json:"error"`
	ID     any `json:"id"`
}

// rpcMessage is any message read: a request or notification has a method,
// a response has none.
type rpcMessage struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
	ID     json.RawMessage `json:"id"`
}

// rpcError is the error member of a response: ovsdb-server sends an object
// {"error": "...", "details": "..."} or, rarely, a bare string.
type rpcError struct {
	Method  string
	Err     string `json:"error"`
	Details string `json:"details"`
}

func (e *rpcError) Error() string {
	msg := e.Method + ": " + e.Err
	if e.Details != "" {
		msg += ": " + e.Details
	}
	return msg
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// longAgo is a deadline in the past: it makes a blocked read or write
// return at once.
var longAgo = time.Unix(1, 0)

// call sends one request and decodes its response's result into result.
func (r *rpcConn) call(ctx context.Context, method string, params []any, result any) error {
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-r.sem }()
	switch {
	case r.closed.Load():
		return errClosed
	case r.broken != nil:
		return r.broken
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	deadline, _ := ctx.Deadline() // zero: none
	if err := r.conn.SetDeadline(deadline); err != nil {
		return r.fail(ctx, err)
	}
	if ctx.Done() != nil {
		fired := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			r.conn.SetDeadline(longAgo)
			close(fired)
		})
		// Not before that deadline is set: the next call sets its own.
		defer func() {
			if !stop() {
				<-fired
			}
		}()
	}

	r.lastID++
	id := r.lastID
	if params == nil {
		params = []any{}
	}
	req, err := json.Marshal(rpcRequest{Method: method, Params: params, ID: id})
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	if _, err := r.conn.Write(req); err != nil {
		return r.fail(ctx, err)
	}
	want := strconv.FormatUint(id, 10)
	for {
		var m rpcMessage
		if err := r.dec.Decode(&m); err != nil {
			return r.fail(ctx, err)
		}
		if m.Method != "" {
			if err := r.serve(&m); err != nil {
				return r.fail(ctx, err)
			}
			continue
		}
		if string(m.ID) != want {
			// Not ours: nothing else is in flight, so this is a stray
			// (or a reply to a request the server never got from us).
			continue
		}
		if !isNull(m.Error) {
			e := &rpcError{Method: method}
			if json.Unmarshal(m.Error, e) != nil || e.Err == "" {
				e.Err = string(m.Error)
			}
			return e
		}
		if result == nil {
			return nil
		}
		if err := json.Unmarshal(m.Result, result); err != nil {
			// The stream is fine; only this result is not what we
			// asked for.
			return fmt.Errorf("%s: bad result: %w", method, err)
		}
		return nil
	}
}

// serve handles a request or notification from the server: an echo
// request is answered with its params (RFC 7047 section 4.1.11); anything
// else is a notification of something we never asked for (update, locked,
// stolen) and is dropped. A request other than echo would need an error
// reply, but ovsdb-server sends no other.
func (r *rpcConn) serve(m *rpcMessage) error {
	r.served++
	if isNull(m.ID) {
		return nil // a notification
	}
	resp := rpcResponse{ID: m.ID, Error: nil}
	switch m.Method {
	case "echo":
		params := m.Params
		if isNull(params) {
			params = json.RawMessage("[]")
		}
		resp.Result = params
	default:
		resp.Error = "unknown method"
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	_, err = r.conn.Write(b)
	return err
}

// fail breaks the connection after an error on it, and returns that error
// with the context's, if the context is why it failed.
func (r *rpcConn) fail(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w (%w)", cerr, err)
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		// The only deadline set is the context's: its timer may just
		// not have fired yet.
		err = fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
	}
	if r.closed.Load() {
		err = fmt.Errorf("%w (%w)", errClosed, err)
	}
	r.broken = err
	r.close()
	return err
}

func (r *rpcConn) close() {
	r.closeOnce.Do(func() { r.conn.Close() })
}

// Close closes the connection; a call in flight fails.
func (r *rpcConn) Close() {
	r.closed.Store(true)
	r.close()
}
