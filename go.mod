module github.com/chatstore/chatstore

go 1.26
