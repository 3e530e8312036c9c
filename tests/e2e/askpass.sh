#!/bin/sh
# SSH_ASKPASS program for the tests: answers "IAM user:" with TB_TEST_USER and any other prompt
# (Password:) with TB_TEST_PASSWORD.
case "$1" in
  *"IAM user"*) printf '%s\n' "$TB_TEST_USER" ;;
  *) printf '%s\n' "$TB_TEST_PASSWORD" ;;
esac
