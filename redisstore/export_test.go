package redisstore

// WriteScriptMarkers are byte strings that only the commands running a
// write script carry: the scripts' SHA-1 digests (EVALSHA) and their source
// (EVAL). The fault-injection test recognises a write by them.
func WriteScriptMarkers() [][]byte {
	return [][]byte{
		[]byte(writeScript.Hash()), []byte(keyedWriteScript.Hash()),
		[]byte(writeSrc), []byte(keyedWriteSrc),
	}
}
