"""The staff side of a public site: the admin's login with its second factor, the verified-login rule on every page,
staff sessions' lifetime, and the staff's authenticator and recovery codes (deploy/README.md, "Security")."""
