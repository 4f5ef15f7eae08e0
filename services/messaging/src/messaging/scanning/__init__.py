"""Message scanning: malware, phishing, spam and prohibited content (MSG-2)."""
