// Package tokens counts the tokens of a conversation as Haystack's two
// local token counters do (haystack/token_counters, Haystack 3.2):
// Approximate is ApproximateTokenCounter and Tiktoken is TiktokenCounter.
// Both measure one string, the one Render returns, and add a flat amount per
// image and per file; for the same messages, tools and settings they give
// Haystack's number.
//
// # What is measured
//
// Render(msgs, tools) is Haystack's rendered_conversation(msgs) followed,
// with no separator, by rendered_tools(tools). The messages are joined with
// "\n", and each renders as follows:
//
//   - A message with tool call results is its results alone, one line each:
//     "[tool:NAME] RESULT", or "[tool:NAME (error)] RESULT" for an error,
//     NAME being the tool name of the result's origin. A result given as a
//     list of parts joins them with nothing between: a text is its text, an
//     image "<image>", a file "<file: FILENAME>" (or "<file: unnamed>").
//     The message's other parts are not rendered, whatever the role.
//   - Any other message gives, whatever the order of its parts: "[ROLE] "
//     and its texts joined with "\n", if it has a text part (even an empty
//     one); then "[ROLE -> tool_call] NAME(ARGS)" for each tool call; then
//     "[ROLE] <image>" for each image and "[ROLE] <file: FILENAME>" for each
//     file. A message that gives no line is "[ROLE] <no content>".
//   - Reasoning, names, meta, tool call ids and extras, base64 data, MIME
//     types and image detail are never rendered.
//
// ARGS, the arguments of a tool call, and the tools are written as
// Python's json.dumps(..., sort_keys=True) writes them: keys sorted at every
// level, ", " and ": " between items, every character outside printable
// ASCII escaped as \uXXXX (a surrogate pair beyond the BMP), floats as
// Python's repr writes them (1.0, 1e-05, 1e+16). A number read from JSON is
// a float if its literal has a '.', an 'e' or an 'E', as in Python: 1.50 is
// written 1.5 and 1e2 100.0, and other literals keep their digits. The tools
// are the JSON list of their schemas, {"description", "name",
// "parameters"} each (Tool); no tools render as nothing.
//
// The flat charge is TokensPerImage for each image and TokensPerFile for
// each file: those that are parts of a message, rendered or not, and those
// inside a tool result given as a list. An image is so counted twice in
// kind, as the text "<image>" and as its flat amount, as in Haystack.
//
// # The counts
//
// No messages and no tools count 0. Otherwise Approximate counts
// int(len(text) / CharsPerToken) + flat, len counting code points as
// Python's len does, and Tiktoken counts len(encoding.encode(text)) + flat.
// Haystack's defaults are the defaults here: 4 characters per token, 85 per
// image, 1000 per file, and the o200k_base encoding (cl100k_base is the
// other one offered). There is no per-message overhead beyond the rendered
// prefixes, so counting [a, b] is in general not counting [a] plus [b].
//
// # The tokenizer
//
// Tiktoken counts exactly the tokens of OpenAI's tiktoken (0.14): its
// vocabularies, its split patterns, its merge rule. No pure-Go package gave
// that without a cost that grows with the square of a piece's length, a
// denial of service for a server that counts every message it stores. A
// piece is a run of letters, of symbols or of whitespace: Thai or Chinese
// prose, which has no spaces, a line of dashes, padding of spaces, or text
// sent to do harm can make one 100 KB long.
//
//   - github.com/tiktoken-go/tokenizer v0.8.1 to v0.10.0 (the latest) merge
//     long pieces with a heap, but their generated regular expressions
//     split "\n \n" in two, so tiktoken's own test "today\n \n" gives three
//     tokens where tiktoken gives two; they also install those matchers
//     for every user of regexp2/v2 in the process.
//   - tokenizer v0.7.0 and github.com/pkoukk/tiktoken-go v0.1.8 count
//     correctly but merge by rescanning every pair after each merge:
//     100 KB of one letter takes 6 to 7 seconds. Neither exposes its
//     vocabulary or its merge of one piece, so that step cannot be
//     replaced without forking them, and pkoukk/tiktoken-go downloads its
//     vocabularies at run time unless a process-wide loader is set.
//
// So the parts are taken where they are sound and the merge is ours. The
// vocabularies are tiktoken's .tiktoken files as
// github.com/pkoukk/tiktoken-go-loader embeds them, checked on loading
// against the SHA-256 that tiktoken itself checks. Text is split with
// tiktoken's patterns by github.com/dlclark/regexp2, the backtracking engine
// both ports use; cl100k_base's possessive quantifiers, which regexp2 lacks,
// are written as the equivalent atomic groups. The merge is tiktoken's rule
// (merge the adjacent pair that makes the lowest-ranked token, the leftmost
// of equals) done as tiktoken 0.14 does it: by scanning pieces under 100
// bytes and with a heap from there, O(n log n). Both give the same merges
// (the tests compare them on random pieces), so a long piece costs
// milliseconds and counts what tiktoken counts: 100 KB of one letter takes
// about 30 ms, 1 KiB of English about 0.2 ms, nearly all of it in the
// regular expression. The first counter of an encoding loads it once for
// the process: about 100 ms and 8 MB of memory for o200k_base, half that
// for cl100k_base.
//
// # Where it differs from Haystack
//
//   - Text that spells a special token, such as <|endoftext|>, counts as the
//     ordinary text it is (7 tokens). Haystack's TiktokenCounter calls
//     encode() with its defaults, which raises for such text; a count that
//     fails would fail the write that asked for it.
//   - Only o200k_base and cl100k_base are known; Haystack takes any
//     encoding name tiktoken has.
//   - Options cannot say 0 per image or per file with 0, which means the
//     default as elsewhere in chatstore: NoCharge does. Negative amounts,
//     which Haystack accepts, are refused.
//   - Tools are given as their schemas; a Haystack Toolset is flattened by
//     the caller.
//   - regexp2 has .NET's case folding, in which (?i)'s does not match the
//     long s 'ſ' as Rust's does, and Go's Unicode 15 tables, where tiktoken
//     has Rust's newer ones; only text with "'ſ" or characters new in
//     Unicode 16 can split differently.
//   - Bytes that are not UTF-8, which a Python str cannot hold, count as
//     U+FFFD. A Go value with no JSON form in tool arguments is written as
//     the JSON string of its fmt.Sprint text, where Python's default=str
//     would use str().
package tokens
