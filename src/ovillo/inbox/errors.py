"""Errors of the inbox domain; each says what to do about it in its ``detail``.

OvilloError
├── NotFoundError
│   ├── ConversationNotFoundError       404 conversation_not_found
│   ├── MessageNotFoundError            404 message_not_found
│   ├── MediaNotFoundError              404 media_not_found
│   └── QuickReplyNotFoundError         404 quick_reply_not_found
├── ConflictError
│   ├── ConversationAlreadyOpenError    409 conversation_already_open
│   ├── MediaNotStoredError             409 media_not_stored
│   └── QuickReplyShortcutTakenError    409 quick_reply_shortcut_taken
├── ValidationFailedError
│   ├── InvalidInboxInputError          422 invalid_inbox_input
│   │   ├── InvalidMessageContentError  422 invalid_message_content
│   │   ├── InvalidRecipientError       422 invalid_recipient
│   │   ├── InvalidReplyToError         422 invalid_reply_to
│   │   ├── InvalidAssigneeError        422 invalid_assignee
│   │   ├── InvalidCursorError          422 invalid_cursor
│   │   ├── InvalidQuickReplyError      422 invalid_quick_reply
│   │   ├── UnsupportedMediaError       422 unsupported_media
│   │   └── MediaTooLargeError          422 media_too_large
│   └── MediaRefusedError               422 media_refused (Meta refused the upload)
└── MediaUploadUnreachableError         502 media_upload_unreachable
"""

from __future__ import annotations

from ovillo.core.errors import ConflictError, NotFoundError, OvilloError, ValidationFailedError


class ConversationNotFoundError(NotFoundError):
    code = "conversation_not_found"
    title = "No such conversation in this workspace."


class MessageNotFoundError(NotFoundError):
    code = "message_not_found"
    title = "No such message in this workspace."


class MediaNotFoundError(NotFoundError):
    code = "media_not_found"
    title = "No such media file in this workspace."


class QuickReplyNotFoundError(NotFoundError):
    code = "quick_reply_not_found"
    title = "No such quick reply in this workspace."


class ConversationAlreadyOpenError(ConflictError):
    code = "conversation_already_open"
    title = "The contact already has an open conversation on this number."
    fields = ("conversation_id",)


class MediaNotStoredError(ConflictError):
    code = "media_not_stored"
    title = "The media file's bytes are not stored (yet)."
    fields = ("state", "error")


class QuickReplyShortcutTakenError(ConflictError):
    code = "quick_reply_shortcut_taken"
    title = "Another quick reply has this shortcut."
    fields = ("shortcut",)


class InvalidInboxInputError(ValidationFailedError):
    code = "invalid_inbox_input"
    title = "The request is not valid."


class InvalidMessageContentError(InvalidInboxInputError):
    """The message is not one WhatsApp would take; ``errors`` lists each field and why."""

    code = "invalid_message_content"
    title = "The message is not valid for WhatsApp."
    fields = ("field", "errors")


class InvalidRecipientError(InvalidInboxInputError):
    code = "invalid_recipient"
    title = "Who to send to, or from which number, is not clear."
    fields = ("field",)


class InvalidReplyToError(InvalidInboxInputError):
    code = "invalid_reply_to"
    title = "The message replied to cannot be quoted."
    fields = ("field", "reply_to")


class InvalidAssigneeError(InvalidInboxInputError):
    code = "invalid_assignee"
    title = "No such user or team in this workspace."
    fields = ("field", "value")


class InvalidCursorError(InvalidInboxInputError):
    code = "invalid_cursor"
    title = "The cursor is not one this API gave out."


class InvalidQuickReplyError(InvalidInboxInputError):
    code = "invalid_quick_reply"
    title = "The quick reply is not valid."
    fields = ("field",)


class UnsupportedMediaError(InvalidInboxInputError):
    code = "unsupported_media"
    title = "WhatsApp does not accept this kind of file."
    fields = ("mime_type", "accepted")


class MediaTooLargeError(InvalidInboxInputError):
    code = "media_too_large"
    title = "The file is larger than WhatsApp accepts for its kind."
    fields = ("mime_type", "size", "max_bytes", "kind")


class MediaRefusedError(ValidationFailedError):
    code = "media_refused"
    title = "WhatsApp refused the file."
    fields = ("meta_code", "fbtrace_id")


class MediaUploadUnreachableError(OvilloError):
    code = "media_upload_unreachable"
    status = 502
    title = "WhatsApp could not be reached to upload the file."
