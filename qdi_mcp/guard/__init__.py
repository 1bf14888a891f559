"""The guardrails, side by side: confirmation (gate, signed tokens, used-token stores), previews, the audit log,
redaction, the data fence, the work folder and zip checks. The server reads them; tools never import them."""
