package bench

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/redis/go-redis/v9"

	"github.com/chatstore/chatstore/redisstore"
)

// rawRedis is the baseline on Redis and Redis Cluster: a list per history,
// the key being the store's key prefix, "raw:" and the history id in a hash
// tag; RPUSH appends, LRANGE -n -1 reads the last n, DEL deletes. The
// client is configured from the URL as the store's (redisstore.NewClient).
type rawRedis struct {
	c      redis.UniversalClient
	prefix string
}

func openRawRedis(ctx context.Context, u *url.URL) (rawDB, error) {
	c, opts, err := redisstore.NewClient(u, nil)
	if err != nil {
		return nil, err
	}
	if err := c.Ping(ctx).Err(); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return &rawRedis{c: c, prefix: opts.KeyPrefix + "raw:"}, nil
}

func (r *rawRedis) key(id string) string { return r.prefix + "{" + id + "}" }

func (r *rawRedis) append(ctx context.Context, id string, bodies [][]byte) error {
	args := make([]any, len(bodies))
	for i, b := range bodies {
		args[i] = b
	}
	return r.c.RPush(ctx, r.key(id), args...).Err()
}

func (r *rawRedis) last(ctx context.Context, id string, n int) ([][]byte, error) {
	if n == 0 {
		return nil, nil
	}
	vals, err := r.c.LRange(ctx, r.key(id), int64(-n), -1).Result()
	bodies := make([][]byte, len(vals))
	for i, v := range vals {
		bodies[i] = []byte(v)
	}
	return bodies, err
}

func (r *rawRedis) delete(ctx context.Context, id string) error {
	return r.c.Del(ctx, r.key(id)).Err()
}

// settle does nothing: what Redis persists, it persists on its own
// schedule, whoever wrote.
func (*rawRedis) settle(context.Context) error { return nil }

// close disconnects; the runner has deleted every history it wrote, which
// are all the keys the baseline made.
func (r *rawRedis) close(context.Context) error {
	if err := r.c.Close(); err != nil {
		return fmt.Errorf("closing the Redis client: %w", err)
	}
	return nil
}
