using GuestFs.Engine.Xdr;

namespace GuestFs.Engine.Protocol;

/// <summary>The fixed 40-byte header of every request and reply.</summary>
public readonly record struct MessageHeader(
    uint Program,
    uint Version,
    int Procedure,
    int Direction,
    uint Serial,
    ulong ProgressHint,
    ulong OptargsBitmask,
    int Status)
{
    public static MessageHeader Call(int procedure, uint serial, ulong progressHint, ulong optargs) =>
        new(ProtocolConstants.Program, ProtocolConstants.Version, procedure, ProtocolConstants.DirectionCall,
            serial, progressHint, optargs, ProtocolConstants.StatusOk);

    public void Write(XdrWriter w)
    {
        w.WriteUInt32(Program);
        w.WriteUInt32(Version);
        w.WriteInt32(Procedure);
        w.WriteInt32(Direction);
        w.WriteUInt32(Serial);
        w.WriteUInt64(ProgressHint);
        w.WriteUInt64(OptargsBitmask);
        w.WriteInt32(Status);
    }

    public static MessageHeader Read(ref XdrReader r) =>
        new(r.ReadUInt32(), r.ReadUInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadUInt32(),
            r.ReadUInt64(), r.ReadUInt64(), r.ReadInt32());
}

/// <summary>One daemon progress message: the running call and how far it is.</summary>
public readonly record struct ProgressMessage(int Procedure, uint Serial, ulong Position, ulong Total)
{
    public static ProgressMessage Read(ref XdrReader r) =>
        new(r.ReadInt32(), r.ReadUInt32(), r.ReadUInt64(), r.ReadUInt64());

    public void Write(XdrWriter w)
    {
        w.WriteInt32(Procedure);
        w.WriteUInt32(Serial);
        w.WriteUInt64(Position);
        w.WriteUInt64(Total);
    }
}
