module lab.local/node-echo

go 1.26
