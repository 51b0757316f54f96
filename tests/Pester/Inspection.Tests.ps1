# OS inspection on a real Debian 12 (debootstrap minbase) root, compared with virt-inspector
# (libguestfs-tools, the reference; test-only). Launches: virt-inspector once, one GuestFs
# session on both images, and one that must fail (two systems, no -Root).
BeforeDiscovery {
    . $PSScriptRoot/TestSupport.ps1
    . $PSScriptRoot/GuestImages.ps1
    $script:debianProblem = Get-GuestFsDebianImageProblem
    $script:noInspector = -not (Get-Command virt-inspector -ErrorAction SilentlyContinue)
}

Describe 'Get-GuestOSInfo and Open-GuestDisk -Inspect on Debian 12' -Tag 'Appliance', 'Inspection' -Skip:($null -ne $debianProblem) {
    BeforeAll {
        . $PSScriptRoot/TestSupport.ps1
        . $PSScriptRoot/GuestImages.ps1
        $script:first = Get-GuestFsDebianImage
        $script:second = Get-GuestFsDebianImage -Second

        # The reference: virt-inspector on both images (read-only).
        $script:reference = $null
        if (Get-Command virt-inspector -ErrorAction SilentlyContinue) {
            $env:LIBGUESTFS_BACKEND = 'direct'
            if (-not $env:LIBGUESTFS_BACKEND_SETTINGS) { $env:LIBGUESTFS_BACKEND_SETTINGS = 'force_tcg' }
            $xml = & virt-inspector --format=raw -a $first -a $second 2>$null | Out-String
            if ($LASTEXITCODE -ne 0) { throw "virt-inspector failed with exit code $LASTEXITCODE" }
            $script:reference = ([xml]$xml).operatingsystems.operatingsystem
        }

        # Ours: both images in one read-only session, the first one's OS mounted.
        $script:openLog = Open-GuestDisk -Path $first, $second -Inspect -Root /dev/sda2 -Verbose 4>&1
        $script:disk = $openLog | Where-Object { $_ -is [GuestFs.PowerShell.GuestDisk] }
        $script:mountsAfterOpen = Get-GuestMount
        $script:systems = Get-GuestOSInfo -IncludeApplications

        function Get-Ref([string] $Root) { $reference | Where-Object { $_.root -eq $Root } }
    }
    AfterAll { Close-GuestDisk -All }

    It 'finds both operating systems, sorted by root' {
        $systems.Root | Should -Be @('/dev/sda2', '/dev/sdb1')
        $systems.Hostname | Should -Be @('gfs-debian', 'gfs-debian2')
        $systems[0].Disk | Should -Be $disk.Id -Because 'objects carry the disk Id, not the session'
    }

    It 'reports what virt-inspector reports for <_>' -ForEach @('/dev/sda2', '/dev/sdb1') -Skip:$noInspector {
        $os = $systems | Where-Object Root -eq $_
        $ref = Get-Ref $_
        $ref | Should -Not -BeNullOrEmpty
        $os.Type | Should -Be $ref.name
        $os.Distro | Should -Be $ref.distro
        $os.ProductName | Should -Be $ref.product_name
        $os.MajorVersion | Should -Be ([int]$ref.major_version)
        $os.MinorVersion | Should -Be ([int]$ref.minor_version)
        $os.Architecture | Should -Be $ref.arch
        $os.Hostname | Should -Be $ref.hostname
        $os.PackageFormat | Should -Be $ref.package_format
        $os.PackageManagement | Should -Be $ref.package_management
        $os.OSInfo | Should -Be $ref.osinfo
        $refMounts = @($ref.mountpoints.mountpoint | ForEach-Object { "$($_.'#text')=$($_.dev)" } | Sort-Object)
        @($os.Mountpoints | ForEach-Object { "$($_.MountPoint)=$($_.Device)" } | Sort-Object) | Should -Be $refMounts
        @($os.Filesystems | Sort-Object) | Should -Be @($ref.filesystems.filesystem.dev | Sort-Object)
    }

    It 'reports the expected Debian facts' {
        $os = $systems[0]
        $os.Type | Should -Be 'linux'
        $os.Distro | Should -Be 'debian'
        $os.MajorVersion | Should -Be 12
        $os.Architecture | Should -Be 'x86_64'
        $os.PackageFormat | Should -Be 'deb'
        $os.PackageManagement | Should -Be 'apt'
        $os.OSInfo | Should -Be 'debian12'
        @($os.Mountpoints.Keys) | Should -Be @('/', '/boot') -Because 'mount points are ordered shortest first'
        $os.Mountpoints['/'] | Should -Be '/dev/sda2'
        $os.Mountpoints['/boot'] | Should -Be '/dev/sda1'
    }

    It 'Get-GuestOSInfo right after Open-GuestDisk -Inspect reuses its inspection instead of inspecting again' {
        $verbose = @(Get-GuestOSInfo -Verbose 4>&1 | Where-Object { $_ -is [Management.Automation.VerboseRecord] }).Message -join "`n"
        $verbose | Should -Match 'reusing its answer'
    }

    It 'mount points travel as text in CSV and as plain records in JSON and over remoting' {
        $os = $systems[0]
        $csv = $os | ConvertTo-Csv | ConvertFrom-Csv
        $csv.Mountpoints | Should -Be '/=/dev/sda2; /boot=/dev/sda1'
        $csv.Filesystems | Should -Be ($os.Filesystems -join '; ')
        ($csv.PSObject.Properties.Value -join ' ') | Should -Not -Match 'System\.' -Because 'no property is written as a type name'
        $json = $os | ConvertTo-Json -Depth 3 -WarningVariable w -WarningAction SilentlyContinue
        @($w).Count | Should -Be 0
        $back = $json | ConvertFrom-Json
        @($back.Mountpoints | ForEach-Object { "$($_.MountPoint) $($_.Device)" }) | Should -Be @('/ /dev/sda2', '/boot /dev/sda1')
        $remote = [Management.Automation.PSSerializer]::Deserialize([Management.Automation.PSSerializer]::Serialize($os))
        @($remote.Mountpoints | ForEach-Object Device) | Should -Be @('/dev/sda2', '/dev/sda1')
        "$($remote.Mountpoints)" | Should -Not -Match 'System\.'
    }

    It 'lists the same applications, versions and descriptions as virt-inspector for <_>' -ForEach @('/dev/sda2', '/dev/sdb1') -Skip:$noInspector {
        $os = $systems | Where-Object Root -eq $_
        $refApps = @((Get-Ref $_).applications.application)
        $os.Applications.Count | Should -BeGreaterThan 50 -Because 'a minbase system has about 90 packages'
        $os.Applications.Count | Should -Be $refApps.Count
        function Text($node, $name) { $v = $node.$name; if ($null -eq $v) { '' } elseif ($v -is [Xml.XmlElement]) { $v.InnerText } else { "$v" } }
        for ($i = 0; $i -lt $refApps.Count; $i++) {
            $r = $refApps[$i]; $a = $os.Applications[$i]
            $epoch = Text $r 'epoch'; $release = Text $r 'release'
            $refFull = $(if ($epoch -and $epoch -ne '0') { "${epoch}:" }) + (Text $r 'version') + $(if ($release) { "-$release" })
            $a.Name | Should -Be (Text $r 'name')
            $a.FullVersion | Should -Be $refFull -Because $a.Name
            $a.Arch | Should -Be (Text $r 'arch') -Because $a.Name
            $a.Url | Should -Be (Text $r 'url') -Because $a.Name
            $a.SourcePackage | Should -Be (Text $r 'source_package') -Because $a.Name
            $a.Summary | Should -Be (Text $r 'summary') -Because $a.Name
            $a.Description | Should -Be (Text $r 'description') -Because $a.Name
        }
    }

    It 'lists well-known packages with sane fields' {
        $apps = $systems[0].Applications
        $names = $apps.Name
        foreach ($n in 'apt', 'bash', 'base-files', 'dpkg', 'libc6', 'coreutils') { $names | Should -Contain $n }
        [string[]]$names | Should -Be ([string[]]($names | Sort-Object { $_ } -CaseSensitive:$true | ForEach-Object { $_ })) -Because 'they are sorted by name'
        ($apps | Where-Object Name -eq 'libc6').Arch | Should -Be 'amd64'
        ($apps | Where-Object Name -eq 'bash').Summary | Should -Not -BeNullOrEmpty
    }

    It 'Open-GuestDisk -Inspect -Root mounted / before /boot, read-only on a read-only session' {
        $lines = @($openLog | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] -and $_.Message -like 'mounted *' } | ForEach-Object Message)
        $lines | Should -Be @('mounted /dev/sda2 on / (read-only)', 'mounted /dev/sda1 on /boot (read-only)')
        ($mountsAfterOpen | ForEach-Object { "$($_.Device) on $($_.MountPoint)" }) | Should -Be @('/dev/sda2 on /', '/dev/sda1 on /boot')
        ((Invoke-GuestFsApi statvfs -path /).Flag -band 1) | Should -Be 1 -Because 'ST_RDONLY'
        Get-GuestContent /etc/hostname | Should -Be 'gfs-debian'
        Get-GuestContent /boot/README | Should -Be 'the boot filesystem'
    }

    It 'Get-GuestOSInfo puts the mounts back as they were (read-only) after inspecting' {
        (Get-GuestMount | ForEach-Object { "$($_.Device) on $($_.MountPoint)" }) | Should -Be @('/dev/sda2 on /', '/dev/sda1 on /boot')
        ((Invoke-GuestFsApi statvfs -path /boot).Flag -band 1) | Should -Be 1
    }

    It 'without -IncludeApplications, Applications is empty' {
        (Get-GuestOSInfo | Select-Object -First 1).Applications | Should -BeNullOrEmpty
    }

    It 'renders with the default list view and the table view' {
        $text = $systems[0] | Out-String
        $text | Should -Match 'Mountpoints\s*:\s*/ = /dev/sda2'
        $text | Should -Match 'Applications\s*:\s*\d+ \(see \.Applications\)'
        ($systems | Format-Table | Out-String) | Should -Match 'gfs-debian2'
        ($systems[0].Applications | Select-Object -First 3 | Out-String) | Should -Match 'Name\s+Version\s+Arch\s+Summary'
    }

    It 'several operating systems without -Root: AmbiguousOperatingSystem, listing both, and nothing stays open' {
        $before = @(Get-GuestDisk).Count
        $err = $null
        try { Open-GuestDisk -Path $first, $second -Inspect -ErrorAction Stop } catch { $err = $_ }
        $err | Should -Not -BeNullOrEmpty
        $err.FullyQualifiedErrorId | Should -Be 'AmbiguousOperatingSystem,GuestFs.PowerShell.Commands.OpenGuestDiskCommand'
        $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
        $err.Exception.Message | Should -Match '/dev/sda2 \(.*\), /dev/sdb1'
        $err.Exception.Message | Should -Match '-Root'
        @(Get-GuestDisk).Count | Should -Be $before
    }

    It 'New-PSDrive -ImagePath mounts the operating system by the same rule as -Inspect (/ and /boot), where it used to refuse two filesystems' {
        New-PSDrive -Name insp -PSProvider GuestFs -Root / -ImagePath $first -Scope Global | Out-Null
        try {
            Get-Content insp:/etc/hostname | Should -Be 'gfs-debian'
            $owned = (Get-PSDrive insp).Disk
            @(Get-GuestMount -Disk $owned | ForEach-Object MountPoint | Sort-Object) | Should -Be @('/', '/boot')
            (Get-GuestMount -Disk $owned | Where-Object MountPoint -eq '/').Device | Should -Be '/dev/sda2'
        }
        finally { Remove-PSDrive insp -Scope Global }
    }
}
