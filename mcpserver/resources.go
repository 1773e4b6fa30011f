package mcpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/apicode"
	"github.com/chatstore/chatstore/internal/plural"
	"github.com/chatstore/chatstore/internal/transcript"
)

// URIPrefix starts the URI of every history's resource; URITemplate is
// the resource template of them all.
const (
	URIPrefix   = "chatstore://histories/"
	URITemplate = URIPrefix + "{id}"
)

const textPlain = "text/plain"

// URI is the URI of a history's resource: the id percent-encoded, every
// byte but RFC 3986's unreserved characters escaped, which is what the
// template's {id} matches (a ':' or '/' left as it is would not), and the
// ids "." and ".." escaped whole, as URI libraries remove such path
// segments.
func URI(historyID string) string {
	const hex = "0123456789ABCDEF"
	b := []byte(URIPrefix)
	if historyID == "." || historyID == ".." {
		return string(b) + strings.Repeat("%2E", len(historyID))
	}
	for i := 0; i < len(historyID); i++ {
		switch c := historyID[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
			b = append(b, c)
		default:
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return string(b)
}

// historyOfURI is the history id of a resource URI, URI's inverse, which
// also reads ids its client escaped otherwise.
func historyOfURI(uri string) (string, bool) {
	rest, ok := strings.CutPrefix(uri, URIPrefix)
	if !ok || rest == "" || strings.ContainsAny(rest, "/?#") {
		return "", false
	}
	id, err := url.PathUnescape(rest)
	return id, err == nil
}

// listResources answers resources/list with the histories, a page of
// chatstore.DefaultListLimit at a time, the store's list cursors as the
// protocol's: the SDK lists only resources added one by one, and
// histories come and go.
func (s *server) listResources(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		r, ok := req.(*mcp.ListResourcesRequest)
		if method != "resources/list" || !ok {
			return next(ctx, method, req)
		}
		c, err := s.begin(ctx)
		if err != nil {
			return nil, s.rpcError(ctx, method, err)
		}
		opts := chatstore.ListOptions{Limit: chatstore.DefaultListLimit}
		if r.Params != nil {
			opts.Cursor = r.Params.Cursor
		}
		var page chatstore.Page
		err = c.do(ctx, "list", func(ctx context.Context) (err error) {
			page, err = c.Store.List(ctx, opts)
			return err
		})
		if err != nil {
			return nil, s.rpcError(ctx, method, err)
		}
		res := &mcp.ListResourcesResult{Resources: make([]*mcp.Resource, 0, len(page.Histories)), NextCursor: page.NextCursor}
		res.CacheScope = "private" // SetCacheable is the SDK's list's, not this one's
		for _, h := range page.Histories {
			res.Resources = append(res.Resources, &mcp.Resource{
				URI:         URI(h.ID),
				Name:        h.ID,
				Description: "chat history of " + plural.Count(h.Count, "message", "messages"),
				MIMEType:    textPlain,
			})
		}
		return res, nil
	}
}

// readResource reads a history's resource: its transcript, every message,
// as long as their stored JSON is within the response limit.
func (s *server) readResource(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	c, err := s.begin(ctx)
	if err != nil {
		return nil, s.rpcError(ctx, "resources/read", err)
	}
	uri := req.Params.URI
	id, ok := historyOfURI(uri)
	if !ok {
		return nil, mcp.ResourceNotFoundError(uri)
	}
	if err := c.checkID(id); err != nil {
		return nil, s.rpcError(ctx, "resources/read", err)
	}
	var msgs []chat.Message
	err = c.read(ctx, func(ctx context.Context, maxBytes int) (err error) {
		msgs, err = c.Store.Read(ctx, id, chatstore.ReadOptions{LastK: chatstore.All, MaxBytes: maxBytes})
		return err
	})
	if errors.Is(err, chatstore.ErrTooLarge) {
		err = invalid("response_too_large", "the history is over the response limit of "+plural.Bytes(int64(s.o.MaxResponseBytes))+
			"; read it in pages with the read_history tool's offset and limit")
	}
	if err != nil {
		return nil, s.rpcError(ctx, "resources/read", err)
	}
	if len(msgs) == 0 {
		// No messages is no history: a read of an unknown id has none.
		return nil, mcp.ResourceNotFoundError(uri)
	}
	s.tally(0, len(msgs))
	var b bytes.Buffer
	transcript.Write(&b, msgs, nil)
	if err := c.hold(b.Len()); err != nil {
		return nil, s.rpcError(ctx, "resources/read", err)
	}
	res := &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: uri, MIMEType: textPlain, Text: b.String()}}}
	return res, nil
}

// rpcError is err as a JSON-RPC error, for the methods that are not tool
// calls: the HTTP API's message, its code in the error's data, and
// "invalid params" for what the client can fix. What apicode.Classify
// does not recognise is a bug, said only as "internal" and logged here.
func (s *server) rpcError(ctx context.Context, method string, err error) error {
	status, code, msg := apicode.Classify(err)
	rpc := int64(jsonrpc.CodeInvalidParams)
	if status >= 500 {
		rpc = jsonrpc.CodeInternalError
		if status == http.StatusInternalServerError {
			s.log.LogAttrs(ctx, slog.LevelError, "MCP request failed", slog.String("method", method), slog.Any("error", err))
		}
	}
	data, _ := json.Marshal(map[string]string{"code": code})
	return &jsonrpc.Error{Code: rpc, Message: strings.ToValidUTF8(msg, "\uFFFD"), Data: data}
}
