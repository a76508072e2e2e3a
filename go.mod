module github.com/thinkv/thinkv

go 1.26
