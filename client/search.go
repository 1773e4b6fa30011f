package client

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
)

// Search finds messages by their words (GET /v1/search), as
// chatstore.Store.Search does, within the client's token's tenant.
func (c *Client) Search(ctx context.Context, o chatstore.SearchOptions) (chatstore.SearchPage, error) {
	q := url.Values{"q": {o.Query}}
	if o.Limit != 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	for k, v := range map[string]string{"cursor": o.Cursor, "prefix": o.Prefix} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if len(o.Roles) > 0 {
		roles := make([]string, len(o.Roles))
		for i, r := range o.Roles {
			roles[i] = string(r)
		}
		q.Set("role", strings.Join(roles, ","))
	}
	if !o.Since.IsZero() {
		q.Set("since", o.Since.Format(time.RFC3339Nano))
	}
	if !o.Until.IsZero() {
		q.Set("until", o.Until.Format(time.RFC3339Nano))
	}
	if o.Reasoning {
		q.Set("reasoning", "true")
	}
	for k, v := range o.Metadata {
		q.Set("metadata["+k+"]", v)
	}
	var out struct {
		Hits []struct {
			HistoryID string    `json:"chat_history_id"`
			MessageID string    `json:"chat_message_id"`
			Role      chat.Role `json:"role"`
			CreatedAt time.Time `json:"created_at"`
			Snippet   string    `json:"snippet"`
			Score     float64   `json:"score"`
		} `json:"hits"`
		NextCursor *string `json:"next_cursor"`
	}
	if err := c.do(ctx, "GET", "/v1/search?"+q.Encode(), nil, &out); err != nil {
		return chatstore.SearchPage{}, err
	}
	page := chatstore.SearchPage{Hits: make([]chatstore.SearchHit, len(out.Hits))}
	for i, h := range out.Hits {
		page.Hits[i] = chatstore.SearchHit{HistoryID: h.HistoryID, MessageID: h.MessageID, Role: h.Role, CreatedAt: h.CreatedAt.UTC(), Snippet: h.Snippet, Score: h.Score}
	}
	if out.NextCursor != nil {
		page.NextCursor = *out.NextCursor
	}
	return page, nil
}
