package storetest

import (
	"fmt"

	"github.com/chatstore/chatstore/chat"
)

// Conversation returns n messages alternating user and assistant, about 60
// characters of text each, so that every two messages are one round. The
// backends' benchmarks use it, so their figures compare.
func Conversation(n int) []chat.Message {
	msgs := make([]chat.Message, n)
	for i := range msgs {
		if i%2 == 0 {
			msgs[i] = chat.User(fmt.Sprintf("Question number %d: what is the weather like in Berlin today?", i))
		} else {
			msgs[i] = chat.Assistant(fmt.Sprintf("Answer number %d: it is sunny and 22 degrees in Berlin.", i))
		}
	}
	return msgs
}
