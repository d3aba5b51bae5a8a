namespace Dlm.Protocol;

/// <summary>Base of every exception the DLM libraries throw on purpose.</summary>
public class DlmException : Exception
{
    /// <summary>Creates an exception with a message that says what to do.</summary>
    public DlmException(string message) : base(message) { }

    /// <summary>Creates an exception with a message and its cause.</summary>
    public DlmException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates an exception with no message; prefer the other constructors.</summary>
    public DlmException() { }
}

/// <summary>Malformed wire input: carries the typed error and its byte offset.</summary>
public sealed class DlmProtocolException : DlmException
{
    /// <summary>Creates the exception for <paramref name="error"/>.</summary>
    public DlmProtocolException(ProtocolError error) : base($"Malformed DLM message: {error}.") => Error = error;

    /// <summary>What was wrong and where.</summary>
    public ProtocolError Error { get; }
}
