package driver

import "context"

// Cost is what a message counts toward a token budget, as the store's
// counter measured it when the message was written, so that a budgeted read
// never tokenizes. Text is the counter's measure of the message's rendered
// text: code points for the approximate counter, tokens for tiktoken's.
// Flat is the tokens charged for its images and files. Only the store turns
// a sum of Costs into tokens (chatstore.Meter.Tokens), since the rule is not
// a plain sum for every counter; drivers store, copy, add and subtract them.
type Cost struct {
	Text, Flat int64
}

// Add returns c + d.
func (c Cost) Add(d Cost) Cost { return Cost{c.Text + d.Text, c.Flat + d.Flat} }

// Sub returns c - d.
func (c Cost) Sub(d Cost) Cost { return Cost{c.Text - d.Text, c.Flat - d.Flat} }

// Measure returns the Cost of a stored message from its JSON (as
// Record.JSON holds it), as the store's counter measures it. Drivers that
// implement Coster call it to measure messages they hold without a Cost of
// the counter asked for: those stored before the backend kept costs, or
// under another counter.
type Measure func(json []byte) (Cost, error)

// Coster is implemented by drivers that store each record's Cost and keep
// each history's sum. Such a driver:
//
//   - stores Record.Cost with each message and returns it in Message.Cost
//     from every read (Range, Tail, Page, Message, ReadBounded), but a
//     Span.Bare one, which may leave it zero;
//   - keeps Info.Cost, the sum over the messages the history holds, up to
//     date in the same atomic step as every change (write, delete, truncate,
//     fork);
//   - records the name of the counter its costs are of, and, when opened
//     with another counter (or over data stored before it kept costs),
//     measures again every message it holds, and the summaries of its
//     compaction records if it is a Compactor, before it serves a call, so
//     that every Cost it returns is of one counter.
//
// Stores on drivers without it measure each message when they read it, and
// have no history totals.
type Coster interface {
	// Counter names the counter of the Costs the driver holds, as
	// chatstore.Options.Tokenizer names it.
	Counter() string
}

// Compaction is a summary that stands, in a store's windowed reads, for the
// messages of a history up to and including the one whose id is Through.
type Compaction struct {
	// Through is the id of the newest message the summary covers, and
	// ThroughPos its position when the compaction was recorded. A record is
	// in effect only while the history holds Through at ThroughPos: once
	// that message is deleted or truncated away the store ignores the
	// record, so no driver has to change records when messages go.
	Through    string
	ThroughPos int64
	// JSON is the summary message, in Record.JSON's form, and Cost its
	// cost.
	JSON []byte
	Cost Cost
	// CreatedAt is when it was recorded, in Unix milliseconds of the
	// store's clock.
	CreatedAt int64
}

// Compactor is implemented by drivers that keep compaction records. Delete,
// DeleteAll and DeletePrefix remove a history's records with it; Fork
// copies, in its atomic step, the records whose Through message it copies,
// with ThroughPos that message's position in the new history. A driver
// whose Truncate frees positions that later writes use again (memstore,
// redisstore) removes, in Truncate's step, the records whose ThroughPos it
// freed, lest a message written there take their summary. Records are
// otherwise never changed. Stores on drivers without it answer
// ErrNotSupported for compactions, and their reads are never compacted.
type Compactor interface {
	// Compact records c as the history's newest compaction, in one atomic
	// step with checking that the history holds the message c.Through at
	// position c.ThroughPos (ErrNotFound if not, recording nothing). The
	// history's UpdatedAt becomes c.CreatedAt. Of its records it keeps the
	// newest max (≥ 1), dropping older ones in the same step.
	Compact(ctx context.Context, historyID string, c Compaction, max int) error

	// Compactions returns the history's records, newest first; none for a
	// history that does not exist.
	Compactions(ctx context.Context, historyID string) ([]Compaction, error)
}

// CompactionTailer is implemented by Compactor drivers that can find out
// whether a history holds compaction records in the same step as a tail
// read, so that a store's last_k read of a history without any costs the
// one call it cost before compactions existed. Drivers without it are
// asked for the records first.
type CompactionTailer interface {
	// TailUncompacted reads span (Rounds > 0) as Tail, or as ReadBounded
	// when maxBytes > 0, unless the history holds compaction records:
	// then it returns compacted true and no messages (nor ErrTooLarge).
	TailUncompacted(ctx context.Context, historyID string, span Span, maxBytes int) (msgs []Message, compacted bool, err error)
}
