"""Message templates: authored, submitted to Meta, tracked; and their tracked links."""
