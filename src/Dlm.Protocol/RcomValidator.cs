namespace Dlm.Protocol;

/// <summary>Payload checks per RCOM type (spec §1.7). Offsets in errors are from the start of the rcom.</summary>
internal static class RcomValidator
{
    private const int PayloadOffset = WireLimits.RcomSize;

    public static bool Validate(RcomType type, ReadOnlySpan<byte> payload, out ProtocolError error)
    {
        error = default;
        switch (type)
        {
            case RcomType.Status:
                // Pre-slots senders (header minor 0) send no payload; otherwise the 16-byte rcom_status.
                return payload.Length is 0 or >= WireLimits.RcomStatusSize || Fail(ProtocolErrorCode.PayloadTooShort, PayloadOffset, out error);
            case RcomType.StatusReply:
                if (payload.Length < WireLimits.RcomConfigSize)
                {
                    return Fail(ProtocolErrorCode.PayloadTooShort, PayloadOffset, out error);
                }

                // spec §9.1.5: slots come from rf_num_slots; h_length may be larger than they need.
                var slots = RcomConfig.Read(payload).SlotCount;
                return WireLimits.RcomConfigSize + (slots * WireLimits.RcomSlotSize) <= payload.Length
                    || Fail(ProtocolErrorCode.TooManySlots, PayloadOffset + 14, out error);
            case RcomType.Names:
            case RcomType.Lookup:
                return payload.Length <= WireLimits.MaxResourceNameLength || Fail(ProtocolErrorCode.NameTooLong, PayloadOffset, out error);
            case RcomType.NamesReply:
                return ValidateNames(payload, out error);
            case RcomType.Lock:
            case RcomType.LockReply:
                return ValidateLock(payload, out error);
            case RcomType.LookupReply:
                return true;
            default:
                return Fail(ProtocolErrorCode.UnknownRcomType, 16, out error);
        }
    }

    private static bool ValidateNames(ReadOnlySpan<byte> payload, out ProtocolError error)
    {
        var reader = new NamesReader(payload);
        while (true)
        {
            switch (reader.Next(out _))
            {
                case NamesRecord.Name:
                    continue;
                case NamesRecord.Invalid:
                    return Fail(ProtocolErrorCode.InvalidNamesRecord, PayloadOffset + reader.Offset, out error);
                default:
                    error = default;
                    return true;
            }
        }
    }

    // spec §1.7.5: 108 bytes, rl_namelen ≤ 64, modes IV..EX, LVB (h_length − 156) a multiple of 8.
    private static bool ValidateLock(ReadOnlySpan<byte> payload, out ProtocolError error)
    {
        error = default;
        if (payload.Length < WireLimits.RcomLockSize)
        {
            return Fail(ProtocolErrorCode.PayloadTooShort, PayloadOffset, out error);
        }

        var rl = RcomLock.Read(payload);
        if (rl.NameLength > WireLimits.MaxResourceNameLength)
        {
            return Fail(ProtocolErrorCode.NameTooLong, PayloadOffset + 42, out error);
        }

        if (!LockModes.IsWireValid((int)rl.RequestedMode))
        {
            return Fail(ProtocolErrorCode.InvalidMode, PayloadOffset + 36, out error);
        }

        if (!LockModes.IsWireValid((int)rl.GrantedMode))
        {
            return Fail(ProtocolErrorCode.InvalidMode, PayloadOffset + 37, out error);
        }

        return ((payload.Length - WireLimits.RcomLockSize) & 7) == 0
            || Fail(ProtocolErrorCode.InvalidValueBlockLength, PayloadOffset + WireLimits.RcomLockSize, out error);
    }

    private static bool Fail(ProtocolErrorCode code, int offset, out ProtocolError error)
    {
        error = new(code, offset);
        return false;
    }
}
