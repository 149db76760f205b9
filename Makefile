# The two commands of the README. Both install what they need themselves.
.PHONY: demo test
demo:
	deploy/dev/demo.sh
test:
	deploy/dev/test.sh
