"""Channel adapters: each turns one provider's events into `InboundMessage`s and sends
`OutboundMessage`s."""
